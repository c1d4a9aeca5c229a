"""bondlab: a failover emulation lab for bond CNI plugins, on a real kernel (the host's or a lab VM's)."""

__version__ = "0.1.0"
