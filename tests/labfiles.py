"""Lab input shared by tests (no root): a small BondLab topology, one VF on each of two PFs named for
seed 000's resource pools."""

SMALL_LAB = """
apiVersion: bondlab/v1
kind: BondLab
metadata: {name: small}
spec:
  nodes:
    - name: node1
      pfs:
        - {name: ens1f0, vfs: 1, resourceName: intel.com/intel_sriov_PF_1}
        - {name: ens2f0, vfs: 1, resourceName: intel.com/intel_sriov_PF_2}
"""
