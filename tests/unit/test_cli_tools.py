"""What `bondlab save` and `capture -w` send back from the lab VM that stays up: binary data as base64 lines
between markers, decoded on the host as it arrives, whatever else the job prints around it (no root, no
kernel)."""

from __future__ import annotations

import io
import os

from bondlab.cli import tools
from bondlab.report import bundle


def test_data_between_the_markers_comes_back_byte_for_byte_in_any_pieces():
    data = os.urandom(10_000) + b"\n\x00end"
    sent = io.StringIO()
    sent.write("a warning first\n" + tools.BEGIN + "\n")
    for at in range(0, len(data), 999):  # tcpdump's reads: any size
        tools.emit(data[at : at + 999], sent)
    sent.write("tcpdump: 3 packets captured\n")  # a line that is not base64, inside
    sent.write(tools.END + "\nbye\n")
    text, binary = io.StringIO(), io.BytesIO()
    sink = tools.Base64Sink(binary, text)
    wire = sent.getvalue()
    for at in range(0, len(wire), 97):  # the job's output file is read in arbitrary pieces
        sink.write(wire[at : at + 97])
    sink.flush()
    assert binary.getvalue() == data
    assert text.getvalue() == "a warning first\ntcpdump: 3 packets captured\nbye\n"


def test_a_bundle_goes_through_tar_and_stays_inside_its_directory(tmp_path):
    files = {"inspect.json": b"{}", "netns/bl-x-fabric.json": b"[]", "lab/pods/000001.json": b"{}"}
    assert bundle.from_tar(bundle.to_tar(files)) == files
    bundle.write_dir(files, str(tmp_path))
    assert (tmp_path / "netns" / "bl-x-fabric.json").read_bytes() == b"[]"
    for bad in ("../escape", "/etc/passwd"):
        try:
            bundle.write_dir({bad: b"x"}, str(tmp_path))
        except ValueError as error:
            assert "leaves the directory" in str(error)
        else:
            raise AssertionError(f"{bad} was written")
