"""What one rentable node can do: its GPUs, the link between them, the fabric between nodes.

The facts come per offer, in the columns `intra_node_link` (nvswitch | nvlink |
infinity-fabric | pcie | ici | neuronlink | none) and `inter_node_fabric` (infiniband | efa |
roce | ici | cluster-network | none; NULL = unknown), from the providers' instance tables
(`market.instances`). The rules that use them:

* A plan of more than one node needs a *known* inter-node fabric; "none" and unknown both
  rule it out, because an unknown network cannot be assumed to carry gradient traffic.
* Tensor parallelism stays inside one NVLink domain: on an NVSwitch / NVLink / Infinity
  Fabric / ICI / NeuronLink node the domain is the whole node; on a PCIe-only node it is
  one GPU (pipeline stages can still span the node's GPUs).
* Fractional-GPU offers (a share of one GPU) never build clusters or replicas.

A user-quoted price has no offer behind it; `QUOTED_FABRIC` marks such a node, which is
taken to cluster because the user quoted a cluster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

GPU_LINKS = frozenset({"nvswitch", "nvlink", "infinity-fabric", "ici", "neuronlink"})
CLUSTER_FABRICS = frozenset({"infiniband", "efa", "roce", "ici", "cluster-network"})
QUOTED_FABRIC = "quoted"
NODE_COLUMNS = ("intra_node_link", "inter_node_fabric")


@dataclass(frozen=True)
class NodeShape:
    gpus_per_node: int
    intra_node_link: str | None = None
    inter_node_fabric: str | None = None

    @property
    def can_cluster(self) -> bool:
        return (self.inter_node_fabric or "").lower() in CLUSTER_FABRICS | {QUOTED_FABRIC}

    @property
    def nvlink_domain(self) -> int:
        """GPUs that share a GPU-to-GPU link (the tensor-parallel limit)."""
        return self.gpus_per_node if (self.intra_node_link or "").lower() in GPU_LINKS else 1

    @property
    def fabric_label(self) -> str:
        return self.inter_node_fabric or "unknown"


def whole_gpus(count: Any) -> int | None:
    """The offer's GPU count if it is a whole number of GPUs, else None (a share or unknown)."""
    if count is None:
        return None
    value = float(count)
    if not math.isfinite(value) or value < 1 or abs(value - round(value)) > 1e-9:
        return None
    return int(round(value))


def shape_of(offer: Mapping[str, Any]) -> NodeShape | None:
    """The node behind an offer row, or None for fractional-GPU offers."""
    gpus = whole_gpus(offer.get("gpu_count"))
    if gpus is None:
        return None
    return NodeShape(gpus, offer.get("intra_node_link"), offer.get("inter_node_fabric"))


def quoted_shape(gpus_per_node: int) -> NodeShape:
    return NodeShape(gpus_per_node, "nvswitch", QUOTED_FABRIC)
