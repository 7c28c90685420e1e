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


# simple and simple2: name (string) and age (int); simple2 has version 2.1.
SIMPLE = _plain("simple", {"name": "string", "age": "int"}, title="Simple")
SIMPLE_INSTANCES = {k: instance("simple", k, f"<name>{n}</name><age>{a}</age>")
                    for k, n, a in (("one", "Alice", 30), ("two", "Bob", 34),
                                    ("three", "Chelsea", 38))}
SIMPLE2 = xform("simple2", "<meta><instanceID/></meta><name/><age/>",
                UUID_BIND + '<bind nodeset="/data/name" type="string"/>'
                '<bind nodeset="/data/age" type="int"/>',
                '<input ref="/data/name"><label>n</label></input>'
                '<input ref="/data/age"><label>a</label></input>',
                title="Simple 2", root_attrs=' version="2.1"')
SIMPLE2_INSTANCES = {k: full_instance("simple2", "2.1", f"s2{k}", f"<name>{n}</name><age>{a}</age>")
                     for k, n, a in (("one", "Alice", 30), ("two", "Bob", 34),
                                     ("three", "Chelsea", 38))}

# doubleRepeat: a repeat (children/child) inside which another (toys/toy).
DOUBLE_REPEAT = xform(
    "doubleRepeat",
    "<orx:meta><orx:instanceID/></orx:meta><name/><children><child><name/><toys><toy><name/>"
    "</toy></toys></child></children>",
    '<bind nodeset="/data/orx:meta/orx:instanceID" preload="uid" type="string"/>'
    '<bind nodeset="/data/name" type="string"/>'
    '<bind nodeset="/data/children/child/name" type="string"/>'
    '<bind nodeset="/data/children/child/toys/toy/name" type="string"/>',
    '<input ref="/data/name"><label>n</label></input><group ref="/data/children/child">'
    '<label>Child</label><repeat nodeset="/data/children/child"><input '
    'ref="/data/children/child/name"><label>c</label></input><group '
    'ref="/data/children/child/toys/toy"><label>Toy</label><repeat '
    'nodeset="/data/children/child/toys/toy"><input ref="/data/children/child/toys/toy/name">'
    "<label>t</label></input></repeat></group></repeat></group>",
    root_attrs=' orx:version="1.0"',
)


def _child(name: str, *toys: str) -> str:
    inner = "".join(f"<toy><name>{t}</name></toy>" for t in toys)
    return f"<child><name>{name}</name>" + (f"<toys>{inner}</toys>" if toys else "") + "</child>"


DOUBLE_REPEAT_INSTANCE = (
    '<data id="doubleRepeat" version="1.0"><orx:meta><orx:instanceID>double</orx:instanceID>'
    "</orx:meta><name>Vick</name><children>" + _child("Alice")
    + _child("Bob", "Twilight Sparkle", "Pinkie Pie", "Applejack", "Spike")
    + _child("Chelsea", "Rainbow Dash", "Rarity", "Fluttershy", "Princess Luna")
    + "</children></data>")

# binaryType: two binary questions (an image, a video).
BINARY_TYPE = _plain("binaryType", {"file1": "binary", "file2": "binary"}, title="Submission")
BINARY_TYPE_INSTANCES = {
    "one": instance("binaryType", "bone", "<file1>my_file1.mp4</file1>"),
    "two": instance("binaryType", "btwo", "<file2>here_is_file2.jpg</file2>"),
    "both": instance("binaryType", "both",
                     "<file1>my_file1.mp4</file1><file2>here_is_file2.jpg</file2>"),
}

# withAttachments: secondary instances by src, and itext media: the files a form names are the
# `jr://file/x` and `jr://audio/x` ones directly under their root (not `badnoroot.xls`,
# `jr://files/...` or a nested `jr://file/path/to/...`); no body.
WITH_ATTACHMENTS = xform(
    "withAttachments", "<meta><instanceID/></meta><name/><age/><hometown/>",
    UUID_BIND + '<bind nodeset="/data/name" type="string"/><bind nodeset="/data/age" '
    'type="int"/><bind nodeset="/data/hometown" type="select1"/><itext><translation '
    'default="true()" lang="en"><text id="/data/name:label"><value form="audio">'
    "jr://audio/goodtwo.mp3</value></text></translation></itext>",
    "",
    extra_instances='<instance id="mydata" src="badnoroot.xls"/><instance id="seconddata" '
    'src="jr://files/badsubpath.csv"/><instance id="thirddata" src="jr://file/goodone.csv"/>'
    '<instance id="fourthdata" src="jr://file/path/to/badnestedfile.csv"/>',
)

# itemsets: a secondary instance from itemsets.csv.
ITEMSETS = xform("itemsets", "<meta><instanceID/></meta><name/>",
                 UUID_BIND + '<bind nodeset="/data/name" type="string"/>', "",
                 extra_instances='<instance id="itemsets" src="jr://file/itemsets.csv"/>')

# groupRepeat: a repeat whose rows hold a group; nestedGroup: a group in a group.
GROUP_REPEAT = xform(
    "groupRepeat",
    "<text/><child_repeat jr:template=\"\"><name/><address><city/><country/></address>"
    "</child_repeat><meta><instanceID/></meta>",
    '<bind nodeset="/data/text" type="string"/><bind nodeset="/data/child_repeat/name" '
    'type="string"/><bind nodeset="/data/child_repeat/address/city" type="string"/>'
    '<bind nodeset="/data/child_repeat/address/country" type="string"/>'
    '<bind jr:preload="uid" nodeset="/data/meta/instanceID" readonly="true()" type="string"/>',
    '<input ref="/data/text"><label>text</label></input><group ref="/data/child_repeat">'
    '<label>Children</label><repeat nodeset="/data/child_repeat"><input '
    'ref="/data/child_repeat/name"><label>n</label></input><group '
    'ref="/data/child_repeat/address"><label>g</label><input '
    'ref="/data/child_repeat/address/city"><label>c</label></input><input '
    'ref="/data/child_repeat/address/country"><label>k</label></input></group></repeat>'
    "</group>",
    title="groupRepeat",
)
GROUP_REPEAT_INSTANCE = (
    '<data id="groupRepeat"><text>xyz</text>'
    + "".join(f"<child_repeat><name>{n}</name><address><city>{c}</city><country>{k}</country>"
              "</address></child_repeat>"
              for n, c, k in (("John", "Toronto", "Canada"), ("Jane", "New York", "US")))
    + "<meta><instanceID>uuid:2be07915-2c9c-401a-93ea-1c8f3f8e68f6</instanceID></meta></data>")
NESTED_GROUP = xform(
    "nestedGroup",
    "<text/><hospital><name/><hiv_medication><have_hiv_medication/></hiv_medication>"
    "</hospital><meta><instanceID/></meta>",
    '<bind nodeset="/data/text" type="string"/><bind nodeset="/data/hospital/name" '
    'type="string"/><bind nodeset="/data/hospital/hiv_medication/have_hiv_medication" '
    'type="string"/><bind jr:preload="uid" nodeset="/data/meta/instanceID" readonly="true()" '
    'type="string"/>',
    '<input ref="/data/text"><label>text</label></input><group ref="/data/hospital"><label>h'
    '</label><input ref="/data/hospital/name"><label>n</label></input><group '
    'ref="/data/hospital/hiv_medication"><label>m</label><input '
    'ref="/data/hospital/hiv_medication/have_hiv_medication"><label>y</label></input></group>'
    "</group>",
    title="nestedGroup",
)
NESTED_GROUP_INSTANCE = (
    '<data id="nestedGroup"><text>xyz</text><hospital><name>AKUH</name><hiv_medication>'
    "<have_hiv_medication>Yes</have_hiv_medication></hiv_medication></hospital><meta>"
    "<instanceID>uuid:f7908274-ef70-4169-90a0-e1389ab732ff</instanceID></meta></data>")

# encrypted: a submission element with a public key. Refused here (docs/compatibility.md).
ENCRYPTED = xform(
    "encrypted", "<meta><instanceID/></meta><name/><age/>",
    UUID_BIND + '<bind nodeset="/data/name" type="string"/><bind nodeset="/data/age" '
    'type="int"/><submission base64RsaPublicKey="MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'
    'YZ7J0Q2lK9gWq4Zq1" method="form-data-post"/>',
    '<input ref="/data/name"><label>n</label></input>', title="Encrypted",
    root_attrs=' version="working3"')

# Every form above, by its form id, as uploaded.
FORMS = {
    "simple": SIMPLE, "withrepeat": WITH_REPEAT, "simple2": SIMPLE2,
    "doubleRepeat": DOUBLE_REPEAT, "withAttachments": WITH_ATTACHMENTS, "itemsets": ITEMSETS,
    "binaryType": BINARY_TYPE, "audits": CLIENT_AUDITS, "selectMultiple": SELECT_MULTIPLE,
    "groupRepeat": GROUP_REPEAT, "nestedGroup": NESTED_GROUP,
}
