"""Privacy audit of synthetic images: nearest neighbours, memorisation (copy detection), membership inference."""

from radsynth.privacy.membership import (
    MembershipInference,
    MembershipResult,
    balanced_indices,
    membership_from_distances,
    tpr_at_fpr,
)
from radsynth.privacy.memorisation import (
    MemorisationAudit,
    MemorisationResult,
    copy_threshold,
    memorisation_from_distances,
    per_patient_copies,
)
from radsynth.privacy.nearest_neighbours import (
    NeighbourSearch,
    Neighbours,
    feature_nearest_neighbours,
    pixel_distance_matrix,
    pixel_nearest_neighbours,
    pixel_neighbours_prepared,
    prepare_images,
)

__all__ = [
    "MembershipInference",
    "MembershipResult",
    "MemorisationAudit",
    "MemorisationResult",
    "NeighbourSearch",
    "Neighbours",
    "balanced_indices",
    "copy_threshold",
    "feature_nearest_neighbours",
    "membership_from_distances",
    "memorisation_from_distances",
    "per_patient_copies",
    "pixel_distance_matrix",
    "pixel_nearest_neighbours",
    "pixel_neighbours_prepared",
    "prepare_images",
    "tpr_at_fpr",
]
