"""bondcni: a bond CNI plugin (a drop-in for k8snetworkplumbingwg/bond-cni)."""

__version__ = "0.1.0"
