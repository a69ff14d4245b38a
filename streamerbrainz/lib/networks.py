"""Networks for allow-lists: CIDR text in, ``ipaddress`` networks out, IPv4 kept IPv4."""

import ipaddress


def network(item):
    """A network from CIDR text (or a network, as is); raises ValueError for anything else.

    An IPv4-mapped IPv6 network (``::ffff:10.0.0.0/104``) becomes its IPv4
    form, as a peer's IPv4-mapped address does, so that either spelling
    matches the same clients.
    """
    if isinstance(item, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return item
    net = ipaddress.ip_network(item, strict=False)
    mapped = getattr(net.network_address, "ipv4_mapped", None)
    if mapped is not None and net.prefixlen >= 96:
        net = ipaddress.ip_network((mapped, net.prefixlen - 96))
    return net
