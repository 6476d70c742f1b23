"""The instance CPU view (kumo.agent.virt.cpuview) and cpu list format (cgroups)."""
from kumo.agent.virt import cpuview
from kumo.agent.virt.cgroups import format_cpulist, parse_cpulist

HOST = "".join(f"processor\t: {i}\nmodel name\t: cpu{i}\nsiblings\t: 4\ncore id\t\t: {i}\n"
               f"cpu cores\t: 4\n\n" for i in range(4))


def test_cpulist_round_trip():
    assert parse_cpulist("0-2,5\n") == [0, 1, 2, 5]
    assert parse_cpulist("") == []
    assert format_cpulist([5, 0, 1, 2]) == "0-2,5"
    assert format_cpulist([3]) == "3"
    assert format_cpulist([]) == ""


def test_cpuinfo_shows_only_the_instance_vcpus():
    text = cpuview.cpuinfo_for(2, [2, 3], HOST)
    assert text.count("processor") == 2
    assert "processor\t: 0\nmodel name\t: cpu2" in text
    assert "processor\t: 1\nmodel name\t: cpu3" in text
    assert "siblings\t: 2" in text and "cpu cores\t: 2" in text
    assert "cpu0" not in text


def test_cpuinfo_more_vcpus_than_host_cpus_repeats_blocks():
    text = cpuview.cpuinfo_for(6, None, HOST)
    assert [ln for ln in text.splitlines() if ln.startswith("processor")] == \
        [f"processor\t: {i}" for i in range(6)]


def test_cpuinfo_without_blocks_and_online():
    assert cpuview.cpuinfo_for(2, None, "") == "processor\t: 0\n\nprocessor\t: 1\n\n"
    assert cpuview.online_for(1) == "0\n"
    assert cpuview.online_for(4) == "0-3\n"


def test_write_puts_both_files(tmp_path):
    host = tmp_path / "host-cpuinfo"
    host.write_text(HOST)
    cpuview.write(tmp_path, 1, [1], host_cpuinfo=host)
    assert (tmp_path / "cpuinfo").read_text().count("processor") == 1
    assert (tmp_path / "cpu-online").read_text() == "0\n"
    assert (tmp_path / "cpuinfo").stat().st_mode & 0o777 == 0o444
