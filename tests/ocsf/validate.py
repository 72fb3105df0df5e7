"""Validates OCSF Detection Findings (one JSON object per line on stdin) against
the OCSF models of py-ocsf-models, plus the class constraints pydantic does not
express. Prints one line per finding; exits non-zero if any is invalid."""

import json
import sys

from py_ocsf_models.events.findings.detection_finding import DetectionFinding

SEVERITIES = {1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical"}


def check(doc: dict) -> list[str]:
    problems = []
    try:
        DetectionFinding.model_validate(doc)
    except Exception as e:  # pydantic.ValidationError, with every field listed
        problems.append(str(e).replace("\n", " | "))
    if doc.get("class_uid") != 2004 or doc.get("category_uid") != 2:
        problems.append("not a Detection Finding (class_uid 2004, category_uid 2)")
    if doc.get("type_uid") != doc.get("class_uid", 0) * 100 + doc.get("activity_id", -1):
        problems.append("type_uid is not class_uid * 100 + activity_id")
    if SEVERITIES.get(doc.get("severity_id")) != doc.get("severity"):
        problems.append("severity does not match severity_id")
    info = doc.get("finding_info", {})
    for field in ("uid", "title", "analytic", "first_seen_time", "last_seen_time"):
        if field not in info:
            problems.append(f"finding_info.{field} missing")
    if info.get("first_seen_time", 0) > info.get("last_seen_time", 0):
        problems.append("first_seen_time after last_seen_time")
    if not all(a.get("technique", {}).get("uid", "").startswith("T") for a in info.get("attacks", [])):
        problems.append("attack without a MITRE technique id")
    if len(info.get("related_events", [])) > info.get("related_events_count", 0):
        problems.append("more related_events than related_events_count")
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
        problems = check(json.loads(line))
        uid = "?"
        try:
            uid = json.loads(line)["finding_info"]["uid"]
        except Exception:
            pass
        if problems:
            bad += 1
            print(f"line {n} ({uid}): INVALID: {'; '.join(problems)}")
        else:
            print(f"line {n} ({uid}): valid")
    print(f"{count} findings, {bad} invalid")
    return 1 if bad or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
