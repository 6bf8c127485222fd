"""XMP provenance for colorized derivatives: where the picture came from and what made it.

``export.write_image`` is the one place that writes provenance; it calls
:func:`provenance_xmp` to merge what a source photo's XMP packet says with what Colorstudio
adds:

* ``dc:description``: a sentence saying the file is a colorized derivative;
* ``xmpMM:DerivedFrom``: the source file's name (``stRef:filePath``) and content hash
  (``stRef:documentID`` = ``sha256:<hex>``);
* ``xmpMM:History``: the source's own events, then ours (``stEvt:action`` "derived",
  ``stEvt:softwareAgent``, ``stEvt:parameters`` naming the engine and its model hashes,
  ``stEvt:when``);
* ``Iptc4xmpExt:DigitalSourceType``: the IPTC term for how the result was made (see
  :func:`digital_source_type`).

Plain ElementTree: no extra dependency, nothing executed, no entities resolved.
"""
from __future__ import annotations

import datetime as _dt
import xml.etree.ElementTree as ET
from typing import Optional

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "stRef": "http://ns.adobe.com/xap/1.0/sType/ResourceRef#",
    "stEvt": "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "xml": "http://www.w3.org/XML/1998/namespace",
}
for _prefix, _uri in NS.items():
    if _prefix != "xml":
        ET.register_namespace(_prefix, _uri)

#: IPTC Digital Source Type vocabulary (http://cv.iptc.org/newscodes/digitalsourcetype/).
DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"
#: A trained network's colours joined with the captured photo's own lightness: "Composite
#: with elements of trained algorithmic media".
TRAINED = DST + "compositeWithTrainedAlgorithmicMedia"
#: A weight-free engine's colours (edge-aware propagation of the user's hints, palette
#: transfer) joined with the captured photo: "Composite including synthetic elements". Not
#: ``algorithmicMedia`` (pure algorithmic media is made from nothing sampled from life; here
#: every tone is the captured photo's) and not ``algorithmicallyEnhanced`` (that term keeps
#: the main content as it was, and colour added to a black-and-white photo is new content).
SYNTHETIC = DST + "compositeSynthetic"


def digital_source_type(trained: bool) -> str:
    """The IPTC term for a colorized derivative: a trained network's or a weight-free engine's."""
    return TRAINED if trained else SYNTHETIC


def _q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


# What a derivative states afresh: the source's values for these are dropped, not kept beside ours.
_REPLACED = {_q("dc", "description"), _q("xmpMM", "DerivedFrom"), _q("xmpMM", "DocumentID"),
             _q("xmpMM", "InstanceID"), _q("xmpMM", "OriginalDocumentID"),
             _q("Iptc4xmpExt", "DigitalSourceType"), _q("xmp", "CreatorTool")}


def _source_descriptions(source_xmp: Optional[bytes]) -> tuple[list, list]:
    """The source packet's rdf:Description elements (our properties removed) and its History items."""
    if not source_xmp:
        return [], []
    text = bytes(source_xmp).strip(b"\0 \r\n\t")
    start, end = text.find(b"<x:xmpmeta"), text.rfind(b"</x:xmpmeta>")
    if start < 0:
        start, end = text.find(b"<rdf:RDF"), text.rfind(b"</rdf:RDF>")
        end = end + len(b"</rdf:RDF>") if end >= 0 else -1
    else:
        end = end + len(b"</x:xmpmeta>") if end >= 0 else -1
    if start < 0 or end < 0:
        return [], []
    try:
        root = ET.fromstring(text[start:end])
    except ET.ParseError:
        return [], []  # an unreadable packet: the derivative gets ours alone
    rdf = root if root.tag == _q("rdf", "RDF") else root.find(_q("rdf", "RDF"))
    if rdf is None:
        return [], []
    descs, history = [], []
    for d in rdf.findall(_q("rdf", "Description")):
        d.attrib.pop(_q("rdf", "about"), None)
        for key in list(d.attrib):
            if key in _REPLACED:
                del d.attrib[key]
        for child in list(d):
            if child.tag == _q("xmpMM", "History"):
                history.extend(child.iter(_q("rdf", "li")))
                d.remove(child)
            elif child.tag in _REPLACED:
                d.remove(child)
        if len(d) or d.attrib:
            descs.append(d)
    return descs, history


def provenance_xmp(source_xmp: Optional[bytes], prov: dict) -> bytes:
    """An XMP packet (UTF-8 bytes, with the xpacket wrapper) for a colorized derivative.

    ``prov`` holds strings: ``software`` (name and version), ``description``, and where
    known ``source`` (file name), ``source_sha256``, ``engine``, ``models`` (model file
    hashes), ``digital_source_type`` (a full IPTC URI), ``when`` (ISO 8601; now by default).
    The source's own properties are kept, except those a derivative states afresh.
    """
    descs, history = _source_descriptions(source_xmp)
    meta = ET.Element(_q("x", "xmpmeta"))
    rdf = ET.SubElement(meta, _q("rdf", "RDF"))
    for d in descs:
        rdf.append(d)
    ours = ET.SubElement(rdf, _q("rdf", "Description"), {_q("rdf", "about"): ""})
    ET.SubElement(ours, _q("xmp", "CreatorTool")).text = prov.get("software", "Colorstudio")
    alt = ET.SubElement(ET.SubElement(ours, _q("dc", "description")), _q("rdf", "Alt"))
    ET.SubElement(alt, _q("rdf", "li"), {_q("xml", "lang"): "x-default"}).text = prov.get("description", "")
    if prov.get("digital_source_type"):
        ET.SubElement(ours, _q("Iptc4xmpExt", "DigitalSourceType")).text = prov["digital_source_type"]
    if prov.get("source") or prov.get("source_sha256"):
        ref = ET.SubElement(ours, _q("xmpMM", "DerivedFrom"), {_q("rdf", "parseType"): "Resource"})
        if prov.get("source"):
            ET.SubElement(ref, _q("stRef", "filePath")).text = prov["source"]
        if prov.get("source_sha256"):
            ET.SubElement(ref, _q("stRef", "documentID")).text = f"sha256:{prov['source_sha256']}"
    seq = ET.SubElement(ET.SubElement(ours, _q("xmpMM", "History")), _q("rdf", "Seq"))
    for li in history:
        seq.append(li)
    event = ET.SubElement(seq, _q("rdf", "li"), {_q("rdf", "parseType"): "Resource"})
    ET.SubElement(event, _q("stEvt", "action")).text = "derived"
    params = "colorized"
    if prov.get("engine"):
        params += f" with the {prov['engine']} engine"
    if prov.get("models"):
        params += f" (models {prov['models']})"
    ET.SubElement(event, _q("stEvt", "parameters")).text = params
    ET.SubElement(event, _q("stEvt", "softwareAgent")).text = prov.get("software", "Colorstudio")
    when = prov.get("when") or _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    ET.SubElement(event, _q("stEvt", "when")).text = when
    body = ET.tostring(meta, encoding="unicode")
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n' + body
            + '\n<?xpacket end="w"?>').encode("utf-8")


def read_xmp(packet: bytes) -> dict:
    """What a provenance packet says, for tests and reports: description, digital_source_type,
    derived_from (file, document id) and history (list of dicts of stEvt fields)."""
    text = bytes(packet)
    start, end = text.find(b"<x:xmpmeta"), text.rfind(b"</x:xmpmeta>")
    root = ET.fromstring(text[start:end + len(b"</x:xmpmeta>")])
    out: dict = {"history": []}
    for d in root.iter(_q("rdf", "Description")):
        for child in d:
            if child.tag == _q("dc", "description"):
                li = child.find(f".//{_q('rdf', 'li')}")
                out["description"] = li.text if li is not None else child.text
            elif child.tag == _q("Iptc4xmpExt", "DigitalSourceType"):
                out["digital_source_type"] = child.text
            elif child.tag == _q("xmpMM", "DerivedFrom"):
                out["derived_from"] = {c.tag.split("}")[1]: c.text for c in child}
            elif child.tag == _q("xmpMM", "History"):
                for li in child.iter(_q("rdf", "li")):
                    out["history"].append({c.tag.split("}")[1]: c.text for c in li})
            elif child.tag == _q("xmp", "CreatorTool"):
                out["creator_tool"] = child.text
        for key, value in d.attrib.items():
            if key == _q("Iptc4xmpExt", "DigitalSourceType"):
                out["digital_source_type"] = value
    return out
