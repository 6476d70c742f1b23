"""EC2 signatures against published vectors: AWS's Signature Version 4 test suite
(``get-vanilla``) and a v2 string-to-sign computed by hand."""
from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from kumo.identity import ec2sign

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def test_v4_get_vanilla_vector():
    creds = {
        "verb": "GET", "path": "/", "host": "example.amazonaws.com", "params": {},
        "headers": {
            "Host": "example.amazonaws.com", "X-Amz-Date": "20150830T123600Z",
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
                             "service/aws4_request, SignedHeaders=host;x-amz-date, "
                             "Signature=x"},
        "body_hash": hashlib.sha256(b"").hexdigest(),
    }
    assert ec2sign.signature(AWS_SECRET, creds) == \
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"


def test_v2_string_to_sign():
    params = {"Action": "DescribeInstances", "SignatureVersion": "2",
              "SignatureMethod": "HmacSHA256", "AWSAccessKeyId": "AKID",
              "Timestamp": "2011-10-03T15:19:30Z", "Filter.1.Value": "a b/c~"}
    text = ("GET\nec2.example\n/\nAWSAccessKeyId=AKID&Action=DescribeInstances&"
            "Filter.1.Value=a%20b%2Fc~&SignatureMethod=HmacSHA256&SignatureVersion=2&"
            "Timestamp=2011-10-03T15%3A19%3A30Z")
    expected = base64.b64encode(hmac.new(b"secret", text.encode(),
                                         hashlib.sha256).digest()).decode()
    creds = {"verb": "GET", "host": "ec2.example", "path": "/", "params": params}
    assert ec2sign.signature("secret", creds) == expected


@pytest.mark.parametrize("creds", [
    {"params": {"SignatureVersion": "1"}},
    {"params": {}},
    {"params": {"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": "bad",
                "X-Amz-Date": "20150830T123600Z"}},
])
def test_unsignable_requests_raise_value_error(creds):
    with pytest.raises(ValueError):
        ec2sign.signature("secret", creds)
