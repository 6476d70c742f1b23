"""EC2 request signatures, as ``/v3/ec2tokens`` checks them (the AWS "Signature
Version 2" and "Signature Version 4" documented HMAC signing; keystoneclient's
``Ec2Signer`` computes the same strings).

``signature(secret, credentials)`` takes the ``credentials`` object of the request
(``host``, ``verb``, ``path``, ``params``, ``headers``, ``body_hash``) and returns the
signature the client should have sent, or raises ``ValueError`` if the request is not
signable (unknown version, malformed v4 fields).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import quote

V4_ALGORITHM = "AWS4-HMAC-SHA256"


def _v4_requested(params: dict, headers: dict) -> bool:
    if params.get("X-Amz-Algorithm") == V4_ALGORITHM:
        return True
    auth = _header(headers, "authorization")
    return bool(auth) and auth.startswith(V4_ALGORITHM)


def _header(headers: dict, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def signature(secret: str, credentials: dict) -> str:
    params = dict(credentials.get("params") or {})
    headers = dict(credentials.get("headers") or {})
    verb = credentials.get("verb") or ""
    host = credentials.get("host") or ""
    path = credentials.get("path") or ""
    if _v4_requested(params, headers):
        return _v4(secret, params, verb, path, headers, credentials.get("body_hash") or "")
    version = str(params.get("SignatureVersion", ""))
    if version == "2":
        return _v2(secret, params, verb, host, path)
    raise ValueError(f"unsupported signature version {version!r}")


def _v2(secret: str, params: dict, verb: str, host: str, path: str) -> str:
    digest = hashlib.sha1 if params.get("SignatureMethod") == "HmacSHA1" else hashlib.sha256
    pairs = [quote(str(k), safe="") + "=" + quote(str(params[k]), safe="-_~")
             for k in sorted(params)]
    text = f"{verb}\n{host}\n{path}\n" + "&".join(pairs)
    mac = hmac.new(secret.encode(), text.encode(), digest)
    return base64.b64encode(mac.digest()).decode()


_AUTH_FIELD = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]+)")


def _v4(secret: str, params: dict, verb: str, path: str, headers: dict,
        body_hash: str) -> str:
    if "X-Amz-Credential" in params:
        credential = params["X-Amz-Credential"]
        signed = params.get("X-Amz-SignedHeaders", "")
        date = params.get("X-Amz-Date", "")
    else:
        fields = dict(_AUTH_FIELD.findall(_header(headers, "authorization") or ""))
        credential = fields.get("Credential", "")
        signed = fields.get("SignedHeaders", "")
        date = _header(headers, "x-amz-date") or ""
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not date.startswith(parts[1]):
        raise ValueError("malformed v4 credential scope or request date")
    lower = {k.lower().strip(): str(v).strip() for k, v in headers.items()}
    canon_headers = "".join(f"{h}:{lower[h]}\n" for h in signed.split(";") if h in lower)
    query = ""
    if verb.upper() != "POST":
        query = "&".join(quote(str(k), safe="-_.~") + "=" + quote(str(params[k]), safe="-_.~")
                         for k in sorted(params) if k != "X-Amz-Signature")
    request = "\n".join((verb.upper(), path, query, canon_headers, signed, body_hash))
    scope = "/".join(parts[1:])
    to_sign = "\n".join((V4_ALGORITHM, date, scope,
                         hashlib.sha256(request.encode()).hexdigest()))
    key = ("AWS4" + secret).encode()
    for part in parts[1:]:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
