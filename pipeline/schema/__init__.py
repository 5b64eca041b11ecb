"""Dataset schema: column roles detected once, saved as YAML, then reused and enforced.

The schema is the contract between the data and every model: models read roles, bounds and
categories from it, and synthetic output is cast back to it. `model` holds the data model,
`detect` the detection, `calendar` the time-series calendar columns, `enforce` the checks.
"""

from pipeline.schema.calendar import (
    COMMON_ZONES,
    _calendar_timezone,
    calendar_parts,
    index_in_zone,
)
from pipeline.schema.detect import (
    ID_NAME,
    MAX_CATEGORIES,
    detect_dependencies,
    detect_relations,
    detect_schema,
    load_or_detect_schema,
)
from pipeline.schema.enforce import _cast_categories, enforce_schema
from pipeline.schema.model import (
    CALENDAR_PARTS,
    ColumnSpec,
    DatasetSchema,
    Dependency,
    Relation,
    Role,
)
from pipeline.schema.personal_data import EMAIL_VALUE, PII_NAMES

__all__ = [
    "CALENDAR_PARTS", "COMMON_ZONES", "EMAIL_VALUE", "ID_NAME", "MAX_CATEGORIES", "PII_NAMES",
    "ColumnSpec", "DatasetSchema", "Dependency", "Relation", "Role", "_calendar_timezone",
    "_cast_categories", "calendar_parts", "detect_dependencies", "detect_relations",
    "detect_schema",
    "enforce_schema", "index_in_zone", "load_or_detect_schema",
]
