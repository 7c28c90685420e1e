"""central-backend's test fixtures (its `test/data/xml.js`), re-expressed: the same forms
(ids, fields, types, repeats, binaries, selects, entities) and the same instances, built by
small functions here instead of copied text, so that `test_central_fixtures.py` can publish
each one and check the exports and OData that central-backend's own tests assert."""

from __future__ import annotations

NS = (
    'xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml" '
    'xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms" '
    'xmlns:entities="http://www.opendatakit.org/xforms/entities"'
)
UUID_BIND = ('<bind nodeset="/data/meta/instanceID" type="string" readonly="true()" '
             "calculate=\"concat('uuid:', uuid())\"/>")


def xform(form_id: str, instance: str, binds: str, body: str, *, title: str | None = None,
          root_attrs: str = "", model_attrs: str = "", extra_instances: str = "") -> bytes:
    """An XForm whose main instance root is `<data id=form_id ...>instance</data>`."""
    head_title = f"<h:title>{title}</h:title>" if title else ""
    return (
        f'<?xml version="1.0"?><h:html {NS}><h:head>{head_title}<model{model_attrs}>'
        f'<instance><data id="{form_id}"{root_attrs}>{instance}</data></instance>'
        f"{extra_instances}{binds}</model></h:head><h:body>{body}</h:body></h:html>"
    ).encode()


def instance(form_id: str, instance_id: str, data: str) -> str:
    """A submission with a plain meta/instanceID (xml.js `instance`)."""
    return (f'<data id="{form_id}"><meta><instanceID>{instance_id}</instanceID></meta>'
            f"{data}</data>")


def full_instance(form_id: str, version: str, instance_id: str, data: str) -> str:
    """A submission with a version and orx:meta (xml.js `fullInstance`)."""
    return (f'<data id="{form_id}" version="{version}"><orx:meta '
            'xmlns:orx="http://openrosa.org/xforms">'
            f"<orx:instanceID>{instance_id}</orx:instanceID></orx:meta>{data}</data>")


# selectMultiple: two select questions with no items at all (one at the root, one in a
# group): JavaRosa (ODK Validate) calls such a form invalid; Central accepts it, and splits
# the answers into 0/1 columns by the values submitted.
SELECT_MULTIPLE = xform(
    "selectMultiple",
    "<meta><instanceID/></meta><q1/><g1><q2/></g1>",
    UUID_BIND + '<bind nodeset="/data/q1" type="string"/>'
    '<bind nodeset="/data/g1/q2" type="string"/>',
    '<select ref="/data/q1"><label>one</label></select><group ref="/data/g1"><label>group'
    '</label><select ref="/data/g1/q2"><label>two</label></select></group>',
)
SELECT_MULTIPLE_INSTANCES = {
    "one": instance("selectMultiple", "one", "<q1>a b</q1><g1><q2>x y z</q2></g1>"),
    "two": instance("selectMultiple", "two", "<q1>b</q1><g1><q2>m x</q2></g1>"),
    "three": instance("selectMultiple", "three", "<q1> b c</q1>"),
}


def _plain(form_id: str, fields: dict[str, str], *, title: str | None = None,
           meta: str = "", binds: str = "", body: str = "") -> bytes:
    """A flat form: meta/instanceID (and `meta` extras), then `fields` (name -> type)."""
    instance_xml = f"<meta><instanceID/>{meta}</meta>" + "".join(f"<{n}/>" for n in fields)
    all_binds = UUID_BIND + binds + "".join(
        f'<bind nodeset="/data/{n}" type="{t}"/>' for n, t in fields.items())
    controls = body or "".join(
        f'<upload ref="/data/{n}" mediatype="image/*"><label>{n}</label></upload>'
        if t == "binary" else f'<input ref="/data/{n}"><label>{n}</label></input>'
        for n, t in fields.items())
    return xform(form_id, instance_xml, all_binds, controls, title=title)


# clientAudits: meta/audit is a binary (ODK Collect's audit log); two instances naming their
# logs audit.csv and log.csv. The logs: Collect's columns, one unknown column, one log without
# accuracy; the merged `audits - audit.csv` keeps Central's columns by header name.
CLIENT_AUDITS = _plain("audits", {"name": "string", "age": "int"}, title="Client Audits",
                       meta="<audit/>", binds='<bind nodeset="/data/meta/audit" type="binary"/>')
CLIENT_AUDIT_INSTANCES = {
    "one": ('<data id="audits"><meta><instanceID>one</instanceID><audit>audit.csv</audit>'
            "</meta><name>Alice</name><age>30</age></data>"),
    "two": ('<data id="audits"><meta><instanceID>two</instanceID><audit>log.csv</audit>'
            "</meta><name>Bob</name><age>34</age></data>"),
}
CLIENT_AUDIT_LOGS = {
    "audit.csv": (
        "event,node,start,end,latitude,longitude,unknown-column,accuracy,old-value,new-value\n"
        + "".join(f"{e},/data/{e},2000-01-01T00:{s},{end},{lat},{lon},{u},{acc},{old},{new}\n"
                  for e, s, end, lat, lon, u, acc, old, new in (
                      ("a", "01", "2000-01-01T00:02", 1, 2, "v", 3, "aa", "bb"),
                      ("b", "02", "2000-01-01T00:03", 4, 5, "w", 6, "cc", "dd"),
                      ("c", "03", "2000-01-01T00:04", 7, 8, "x", 9, "ee", "ff"),
                      ("d", "10", "", 10, 11, "", 12, "gg", ""),
                      ("e", "11", "", "", "", "", "", "hh", "ii")))),
    "log.csv": (
        "event,node,start,end,latitude,longitude,unknown-column,old-value,new-value\n"
        + "".join(f"{e},/data/{e},2000-01-01T00:0{s},2000-01-01T00:0{s + 1},{lat},{lon},{u},"
                  f"{old},{new}\n"
                  for e, s, lat, lon, u, old, new in (
                      ("f", 4, -1, -2, "y", "aa", "bb"), ("g", 5, -3, -4, "z", "cc", "dd"),
                      ("h", 6, -5, -6, "", "ee", "ff")))),
}
# what central-backend's test asserts the merged log is
MERGED_CLIENT_AUDIT = """instance ID,event,node,start,end,latitude,longitude,accuracy,old-value,new-value,user,change-reason
one,a,/data/a,2000-01-01T00:01,2000-01-01T00:02,1,2,3,aa,bb,,
one,b,/data/b,2000-01-01T00:02,2000-01-01T00:03,4,5,6,cc,dd,,
one,c,/data/c,2000-01-01T00:03,2000-01-01T00:04,7,8,9,ee,ff,,
one,d,/data/d,2000-01-01T00:10,,10,11,12,gg,,,
one,e,/data/e,2000-01-01T00:11,,,,,hh,ii,,
two,f,/data/f,2000-01-01T00:04,2000-01-01T00:05,-1,-2,,aa,bb,,
two,g,/data/g,2000-01-01T00:05,2000-01-01T00:06,-3,-4,,cc,dd,,
two,h,/data/h,2000-01-01T00:06,2000-01-01T00:07,-5,-6,,ee,ff,,
"""


# withrepeat: orx:version 1.0, orx:meta, name and age, and a repeat children/child (name,
# age); no title.
WITH_REPEAT = xform(
    "withrepeat",
    "<orx:meta><orx:instanceID/></orx:meta><name/><age/><children><child jr:template=\"\">"
    "<name/><age/></child></children>",
    '<bind nodeset="/data/orx:meta/orx:instanceID" preload="uid" type="string"/>'
    '<bind nodeset="/data/name" type="string"/><bind nodeset="/data/age" type="int"/>'
    '<bind nodeset="/data/children/child/name" type="string"/>'
    '<bind nodeset="/data/children/child/age" type="int"/>',
    '<input ref="/data/name"><label>name</label></input><input ref="/data/age"><label>age'
    '</label></input><group ref="/data/children/child"><label>Child</label>'
    '<repeat nodeset="/data/children/child"><input ref="/data/children/child/name"><label>'
    'child name</label></input><input ref="/data/children/child/age"><label>child age'
    "</label></input></repeat></group>",
    root_attrs=' orx:version="1.0"',
)


def _children(*kids: tuple[str, int]) -> str:
    inner = "".join(f"<child><name>{n}</name><age>{a}</age></child>" for n, a in kids)
    return f"<children>{inner}</children>"


WITH_REPEAT_INSTANCES = {
    "one": full_instance("withrepeat", "1.0", "rone", "<name>Alice</name><age>30</age>"),
    "two": full_instance("withrepeat", "1.0", "rtwo", "<name>Bob</name><age>34</age>"
                         + _children(("Billy", 4), ("Blaine", 6))),
    "three": full_instance("withrepeat", "1.0", "rthree", "<name>Chelsea</name><age>38</age>"
                           + _children(("Candace", 2))),
}
