"""The users' bond configs (seeds 000 and 002), as their docs give them."""

README_EXAMPLE = {  # seed 000: upstream bond-cni README, "linksInContainer": true
    "type": "bond",
    "cniVersion": "0.3.1",
    "name": "bond-net1",
    "mode": "active-backup",
    "failOverMac": 1,
    "linksInContainer": True,
    "miimon": "100",
    "mtu": 1500,
    "links": [{"name": "net1"}, {"name": "net2"}],
    "ipam": {
        "type": "host-local",
        "subnet": "10.56.217.0/24",
        "routes": [{"dst": "0.0.0.0/0"}],
        "gateway": "10.56.217.1",
    },
}
SEED_002_LACP = {  # seed 002: "Launch a Pod With a Bonded SR-IOV Interface in 802.3ad (LACP) Mode"
    "cniVersion": "0.3.1",
    "name": "bond0",
    "ifname": "bond0",
    "type": "bond",
    "mode": "802.3ad",
    "miimon": "100",
    "linksInContainer": True,
    "links": [{"name": "net1"}, {"name": "net2"}],
    "ipam": {"type": "static", "addresses": [{"address": ""}]},
}
