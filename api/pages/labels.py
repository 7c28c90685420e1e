"""Names of the rubric's codes (forms/rubric.py, the spec's risk-screening.md), marked for the
catalogue: pages show these, with the code as secondary text where a researcher needs it.
(Risk and vulnerability levels: RISK_LEVEL_LABELS in forms/vocabulary.py.)"""

from __future__ import annotations

from api.i18n import N_

RISK_GROUPS = {
    "CHILD": N_("Child (under 18)"),
    "YOUTH": N_("Young person (18–24)"),
    "UNDER_EDUCATED": N_("Little schooling"),
    "UNEMPLOYED": N_("No regular income or job"),
    "VOC_GRAD": N_("Vocational graduate without work"),
    "LABOUR_MIGRANT": N_("Labour migrant"),
    "RETURNEE": N_("Returned after deportation or an entry ban"),
    "PRIOR_VICTIM": N_("Forced to work or stay before"),
    "CHILD_LEFT_BEHIND": N_("Child whose parents work abroad"),
    "NO_PARENTAL_CARE": N_("Without parental care"),
    "MARRIAGE_RISK": N_("Marriage risk"),
    "INTERMEDIARY_EXPOSED": N_("Offered work or travel by an intermediary"),
    "POSSIBLE_VICTIM": N_("Possible victim of trafficking"),
}
CONTROL_FORMS = {
    "physical": N_("Physical control"),
    "economic": N_("Economic control"),
    "psychological": N_("Psychological control"),
    "legal_dependence": N_("Legal dependence"),
}
EXPLOITATION_TYPES = {
    "domestic": N_("Domestic work"),
    "industrial": N_("Industrial work"),
    "agricultural": N_("Agricultural work"),
    "criminal": N_("Forced criminal activity"),
    "sexual": N_("Sexual exploitation"),
    "organs": N_("Organ removal"),
    "surrogacy": N_("Forced surrogacy"),
    "armed_conflict": N_("Armed conflict"),
    "other": N_("Other"),
}
EXPLOITATION_STATUS = {
    "not_screened": N_("Not screened"),
    "possible_trafficking": N_("Possible trafficking"),
    "forced_labour_indicated": N_("Forced labour indicated"),
    "incomplete": N_("Incomplete answers"),
    "rights_violation": N_("Labour rights violation"),
    "none": N_("No indication"),
}
