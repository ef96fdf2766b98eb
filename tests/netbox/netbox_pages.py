"""Recorded NetBox answers: device-list pages shaped as NetBox 3.x and 4.x return them.

GET /api/dcim/devices/ (and /api/virtualization/virtual-machines/) answers
{"count", "next", "previous", "results"} with limit/offset paging; `next` and `previous`
are absolute URLs built from the request's Host. Each result is the full device
serializer: nested site, role (3.x: device_role), tenant, platform, primary_ip/4/6,
tags, custom_fields, config_context unless ?exclude=config_context. The field sets follow
NetBox's REST API documentation and its OpenAPI schema for the two major versions:

- 3.x (3.5): `device_role`, nested objects {id, url, display, name, slug}, IP addresses
  with "family": 4, no `oob_ip`, no `display_url`.
- 4.x (4.1+): `role`, nested objects add `description`, objects add `display_url`,
  IP addresses with "family": {"value": 4, "label": "IPv4"}, `oob_ip`, the component
  counts (`interface_count`, ...).

Pure data: netbox_server.py serves it, tests/integration/netbox_test.cpp checks what
netkeepctl makes of it.
"""

SITES = ["dal1", "hou1", "nyc1", "sjc1"]
ROLES = ["core", "edge", "access"]
PLATFORMS = [("cisco-ios", "Cisco IOS"), ("juniper-junos", "Juniper Junos"),
             ("arista-eos", "Arista EOS"), ("cisco-nx-os", "Cisco NX-OS"),
             ("fortinet-fortios", "FortiOS"), ("acme-os", "Acme OS")]
STATUS_LABELS = {"active": "Active", "planned": "Planned", "offline": "Offline",
                 "staged": "Staged", "failed": "Failed"}


def _nested(version, base, kind, oid, name, slug):
    o = {"id": oid, "url": f"{base}/api/{kind}/{oid}/", "display": name, "name": name,
         "slug": slug}
    if version >= 4:
        o["description"] = ""
    return o


def _ip(version, base, oid, address):
    family = 6 if ":" in address else 4
    o = {"id": oid, "url": f"{base}/api/ipam/ip-addresses/{oid}/", "display": address,
         "family": family if version < 4 else {"value": family, "label": f"IPv{family}"},
         "address": address}
    if version >= 4:
        o["description"] = ""
    return o


def device_spec(i):
    """The facts of device i (1-based): what the generator varies."""
    site = SITES[i % len(SITES)]
    spec = {
        "id": i,
        "name": f"{site}-sw{i:05d}",
        "site": site,
        "role": ROLES[i % len(ROLES)],
        "platform": PLATFORMS[i % len(PLATFORMS)],
        "status": "planned" if i % 50 == 0 else "active",
        "ip4": f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}/24",
        "tags": ["backup"] + (["pci"] if i % 7 == 0 else []),
        "backup": False if i % 100 == 1 else None,
        "profile": "lab" if i % 97 == 0 else None,
    }
    return spec


def device(version, base, spec, kind="dcim/devices", with_config_context=True):
    """One result of the list, as NetBox `version` (3 or 4) serializes it."""
    i = spec["id"]
    slug, pname = spec["platform"]
    d = {"id": i, "url": f"{base}/api/{kind}/{i}/"}
    if version >= 4:
        d["display_url"] = f"{base}/{kind.replace('/', '/')}/{i}/"
    d["display"] = spec["name"] or f"Unnamed device ({i})"
    d["name"] = spec["name"]
    d["device_type"] = {"id": 1, "url": f"{base}/api/dcim/device-types/1/", "display": "C9300-48P",
                        "manufacturer": _nested(version, base, "dcim/manufacturers", 1, "Cisco", "cisco"),
                        "model": "C9300-48P", "slug": "c9300-48p"}
    role = _nested(version, base, "dcim/device-roles", 10 + ROLES.index(spec["role"]),
                   spec["role"].title(), spec["role"])
    if version >= 4:
        d["role"] = role
    else:
        d["device_role"] = role
    d["tenant"] = None
    d["platform"] = _nested(version, base, "dcim/platforms", 20 + PLATFORMS.index(spec["platform"]),
                            pname, slug)
    d["serial"] = f"FOC{i:08d}"
    d["asset_tag"] = None
    d["site"] = _nested(version, base, "dcim/sites", 30 + SITES.index(spec["site"]),
                        spec["site"].upper(), spec["site"])
    d["location"] = None
    d["rack"] = None
    d["position"] = None
    d["face"] = None
    if version >= 4:
        d["latitude"] = None
        d["longitude"] = None
    d["parent_device"] = None
    d["status"] = {"value": spec["status"], "label": STATUS_LABELS[spec["status"]]}
    d["airflow"] = None
    ip = _ip(version, base, 100000 + i, spec["ip4"]) if spec["ip4"] else None
    d["primary_ip"] = ip
    d["primary_ip4"] = ip
    d["primary_ip6"] = None
    if version >= 4:
        d["oob_ip"] = None
    d["cluster"] = None
    d["virtual_chassis"] = None
    d["vc_position"] = None
    d["vc_priority"] = None
    d["description"] = ""
    d["comments"] = ""
    d["config_template"] = None
    if with_config_context:
        d["config_context"] = {"ntp": ["10.0.0.1"], "syslog": "10.0.0.2"}
    d["local_context_data"] = None
    d["tags"] = [{"id": 50 + n, "url": f"{base}/api/extras/tags/{50 + n}/", "display": t,
                  "name": t.upper(), "slug": t, "color": "9e9e9e"}
                 for n, t in enumerate(spec["tags"])]
    d["custom_fields"] = {"netkeep_backup": spec["backup"], "netkeep_profile": spec["profile"],
                          "asset_owner": "netops"}
    d["created"] = "2025-03-01T10:00:00.000000Z"
    d["last_updated"] = "2025-11-20T08:30:00.000000Z"
    if version >= 4:
        for count in ("console_port_count", "console_server_port_count", "power_port_count",
                      "power_outlet_count", "interface_count", "front_port_count",
                      "rear_port_count", "device_bay_count", "module_bay_count",
                      "inventory_item_count"):
            d[count] = 0
        d["interface_count"] = 52
    return d

