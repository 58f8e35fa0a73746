"""Real, minimal sample files built in memory (no Pillow), and multipart bodies.

Every builder returns bytes that the named format's readers accept: a 1x1 PNG with
valid CRCs, a 1x1 GIF89a, a 1x1 baseline JPEG that decodes, a one-page PDF with a
correct xref table, a DOCX zip holding [Content_Types].xml and word/document.xml, an
OLE2 compound file (the container of .doc) and UTF-8 text.

`SAMPLES` maps each allowed extension to (builder, canonical content type).
`multipart(...)` builds a body by hand, so the filename reaches the server exactly as
given (Django's test client would strip directories and cannot send control bytes).
"""

import io
import os
import struct
import uuid
import zipfile
import zlib
from collections.abc import Callable

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bytes(width: int = 1, height: int = 1) -> bytes:
    """An RGB PNG of red pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )


def gif_bytes() -> bytes:
    """A 1x1 GIF89a with a two-colour table."""
    return (
        b"GIF89a"
        + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0)  # screen, global table of 2 colours
        + b"\x00\x00\x00\xff\xff\xff"
        + b"\x2c"
        + struct.pack("<HHHHB", 0, 0, 1, 1, 0)  # image descriptor
        + b"\x02\x02\x44\x01\x00"  # LZW min size 2, one sub-block, terminator
        + b"\x3b"
    )


def jpeg_bytes() -> bytes:
    """A 1x1 grey baseline JFIF: one all-zero block (DC diff 0, then end of block)."""

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload

    app0 = b"JFIF\x00" + struct.pack(">BBBHHBB", 1, 1, 0, 1, 1, 0, 0)
    dqt = b"\x00" + b"\x01" * 64
    sof0 = struct.pack(">BHHB", 8, 1, 1, 1) + b"\x01\x11\x00"
    # One code of length 1 in each table: DC symbol 0 (no diff), AC symbol 0 (EOB).
    dht_dc = b"\x00" + b"\x01" + b"\x00" * 15 + b"\x00"
    dht_ac = b"\x10" + b"\x01" + b"\x00" * 15 + b"\x00"
    sos = b"\x01" + b"\x01\x00" + b"\x00\x3f\x00"
    return (
        b"\xff\xd8"
        + segment(0xE0, app0)
        + segment(0xDB, dqt)
        + segment(0xC0, sof0)
        + segment(0xC4, dht_dc)
        + segment(0xC4, dht_ac)
        + segment(0xDA, sos)
        + b"\x3f"  # bits 0 (DC) 0 (EOB), padded with ones
        + b"\xff\xd9"
    )


def pdf_bytes(text: str = "Hello") -> bytes:
    """A one-page PDF 1.4 showing `text`, with a byte-exact xref table."""
    stream = f"BT /F1 12 Tf 10 10 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode() + b"0000000000 65535 f \n"
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode()
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


_CONTENT_TYPES_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    "</Types>"
)
_RELS_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/>'
    "</Relationships>"
)
_DOCUMENT_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    "<w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>"
)


def zip_bytes(members: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def docx_bytes(text: str = "Hello") -> bytes:
    """A Word document: [Content_Types].xml first, then the relationships and body."""
    return zip_bytes(
        {
            "[Content_Types].xml": _CONTENT_TYPES_XML,
            "_rels/.rels": _RELS_XML,
            "word/document.xml": _DOCUMENT_XML.format(text=text),
        }
    )


def docx_with_odd_directory(*, version_needed: int = 0, undecodable_name: bool = False) -> bytes:
    """A .docx whose first central directory entry zipfile cannot read: a zip
    version it does not implement, or a name flagged UTF-8 that is not."""
    data = bytearray(docx_bytes())
    entry = data.index(b"PK\x01\x02")
    if version_needed:
        data[entry + 6 : entry + 8] = version_needed.to_bytes(2, "little")
    if undecodable_name:
        flags = int.from_bytes(data[entry + 8 : entry + 10], "little") | 0x0800
        data[entry + 8 : entry + 10] = flags.to_bytes(2, "little")
        data[entry + 46] = 0xFF  # the name's first byte
    return bytes(data)


def plain_zip_bytes() -> bytes:
    """A zip that is not a Word document (no word/document.xml)."""
    return zip_bytes({"notes.txt": "just a zip\n", "data/readme.md": "# zip\n"})


OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_FREESECT, _ENDOFCHAIN, _FATSECT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD


def _ole_dir_entry(name: str, kind: int, start: int = _ENDOFCHAIN, size: int = 0) -> bytes:
    encoded = (name + "\x00").encode("utf-16-le") if name else b""
    return (
        encoded.ljust(64, b"\x00")
        + struct.pack("<HBB", len(encoded), kind, 1)  # size of name, type, black
        + struct.pack("<III", _FREESECT, _FREESECT, 1 if kind == 5 else _FREESECT)  # root: child 1
        + b"\x00" * 16  # CLSID
        + b"\x00" * 4  # state bits
        + b"\x00" * 16  # created, modified
        + struct.pack("<IQ", start, size)
    )


def doc_bytes() -> bytes:
    """An OLE2 compound file (v3, 512-byte sectors): header, one FAT sector, one
    directory sector holding the root entry and an empty "WordDocument" stream."""
    header = (
        OLE2_SIGNATURE
        + b"\x00" * 16  # CLSID
        + struct.pack("<HHHHH", 0x003E, 0x0003, 0xFFFE, 9, 6)  # minor, major, BOM, shifts
        + b"\x00" * 6
        + struct.pack("<I", 0)  # directory sectors (0 for v3)
        + struct.pack("<I", 1)  # FAT sectors
        + struct.pack("<I", 1)  # first directory sector
        + struct.pack("<I", 0)  # transaction signature
        + struct.pack("<I", 4096)  # mini stream cutoff
        + struct.pack("<II", _ENDOFCHAIN, 0)  # mini FAT: first sector, count
        + struct.pack("<II", _ENDOFCHAIN, 0)  # DIFAT: first sector, count
        + struct.pack("<I", 0)  # DIFAT[0]: the FAT is sector 0
        + struct.pack("<I", _FREESECT) * 108
    )
    assert len(header) == 512
    fat = struct.pack("<II", _FATSECT, _ENDOFCHAIN) + struct.pack("<I", _FREESECT) * 126
    directory = (
        _ole_dir_entry("Root Entry", 5)
        + _ole_dir_entry("WordDocument", 2)
        + _ole_dir_entry("", 0)
        + _ole_dir_entry("", 0)
    )
    assert len(fat) == 512
    assert len(directory) == 512
    return header + fat + directory


def text_bytes(text: str = "Grüße, notes for the meeting.\n") -> bytes:
    return text.encode("utf-8")


def text_of_size(size: int) -> bytes:
    """Valid UTF-8 text (ASCII lines) of exactly `size` bytes."""
    line = b"0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\n"
    return (line * (size // len(line) + 1))[:size]


def random_bytes(size: int = 2048) -> bytes:
    """Bytes that are no known format (and not valid UTF-8: they start with 0xff 0xfe 0xfd)."""
    return b"\xff\xfe\xfd" + os.urandom(size - 3)


# extension -> (builder, canonical content type)
SAMPLES: dict[str, tuple[Callable[[], bytes], str]] = {
    "txt": (text_bytes, "text/plain"),
    "pdf": (pdf_bytes, "application/pdf"),
    "png": (png_bytes, "image/png"),
    "jpg": (jpeg_bytes, "image/jpeg"),
    "jpeg": (jpeg_bytes, "image/jpeg"),
    "gif": (gif_bytes, "image/gif"),
    "doc": (doc_bytes, "application/msword"),
    "docx": (docx_bytes, DOCX_TYPE),
}


def sample(extension: str) -> bytes:
    """The sample for an allowed extension (any case)."""
    return SAMPLES[extension.lower()][0]()


def canonical_type(extension: str) -> str:
    return SAMPLES[extension.lower()][1]


def _quote(value: str) -> bytes:
    # Only the quote and CR/LF would end the header value: the quote is escaped with
    # a backslash (which Django's header parser undoes); everything else goes raw.
    return value.replace('"', '\\"').replace("\r", "%0D").replace("\n", "%0A").encode("utf-8")


def multipart(
    files: dict[str, tuple[str, bytes, str]] | None = None,
    fields: dict[str, str] | None = None,
) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type.

    `files` maps a field to (filename, content, content type); filenames are sent as
    UTF-8 exactly as given (no directory stripping), so the server's sanitising is
    what is tested.
    """
    boundary = f"----files-test-{uuid.uuid4().hex}"
    parts = []
    for name, value in (fields or {}).items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode("utf-8")
            + b"\r\n"
        )
    for name, (filename, content, content_type) in (files or {}).items():
        disposition = (
            f'Content-Disposition: form-data; name="{name}"; filename="'.encode()
            + _quote(filename)
            + b'"\r\n'
        )
        parts.append(
            f"--{boundary}\r\n".encode()
            + disposition
            + f"Content-Type: {content_type}\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"
