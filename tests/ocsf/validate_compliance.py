"""Validates OCSF Compliance Findings (one JSON object per line on stdin), the
posture checks' output, against the OCSF models of py-ocsf-models, plus the
class constraints pydantic does not express. Prints one line per finding; exits
non-zero if any is invalid."""

import json
import sys

from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding

SEVERITIES = {1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical"}
STATUSES = {0: "Unknown", 1: "Pass", 2: "Warning", 3: "Fail", 99: "Other"}


def check(doc: dict) -> list[str]:
    problems = []
    try:
        ComplianceFinding.model_validate(doc)
    except Exception as e:  # pydantic.ValidationError, with every field listed
        problems.append(str(e).replace("\n", " | "))
    if doc.get("class_uid") != 2003 or doc.get("category_uid") != 2:
        problems.append("not a Compliance Finding (class_uid 2003, category_uid 2)")
    if doc.get("type_uid") != doc.get("class_uid", 0) * 100 + doc.get("activity_id", -1):
        problems.append("type_uid is not class_uid * 100 + activity_id")
    if SEVERITIES.get(doc.get("severity_id")) != doc.get("severity"):
        problems.append("severity does not match severity_id")
    compliance = doc.get("compliance", {})
    if STATUSES.get(compliance.get("status_id")) != compliance.get("status"):
        problems.append("compliance.status does not match compliance.status_id")
    if not compliance.get("control"):
        problems.append("compliance.control missing")
    info = doc.get("finding_info", {})
    for field in ("uid", "title", "analytic"):
        if field not in info:
            problems.append(f"finding_info.{field} missing")
    if compliance.get("status_id") == 3 and not doc.get("resources"):
        problems.append("a failing check lists no resources")
    if not doc.get("metadata", {}).get("product", {}).get("name"):
        problems.append("metadata.product.name missing")
    if len(json.dumps(doc).encode()) > 256 * 1024:
        problems.append("larger than an SNS message")
    return problems


def main() -> int:
    bad = 0
    count = 0
    for n, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        count += 1
        doc = json.loads(line)
        problems = check(doc)
        uid = doc.get("finding_info", {}).get("uid", "?")
        if problems:
            bad += 1
            print(f"line {n} ({uid}): INVALID: {'; '.join(problems)}")
        else:
            print(f"line {n} ({uid}): valid")
    print(f"{count} findings, {bad} invalid")
    return 1 if bad or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
