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
