from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sentinel.nlp.taxonomy import TaxonomyError, load_taxonomy, taxonomy_from_dict

REPO = Path(__file__).resolve().parents[2]

EXPECTED = [
    "product_quality",
    "product_safety",
    "service_failure",
    "data_privacy",
    "false_advertising_fraud",
    "legal_regulatory",
    "labour_executive",
    "logistics_delivery",
    "pricing_refund",
    "rumour",
    "boycott",
]


def test_shipped_taxonomy_has_the_eleven_topics() -> None:
    taxonomy = load_taxonomy(REPO / "config" / "taxonomy.yaml")
    assert taxonomy.ids == EXPECTED
    for topic in taxonomy.topics:
        assert topic.name_zh and topic.name_en and topic.description
        assert len(topic.seeds) >= 10
        assert 0 <= topic.severity <= 1


def test_model_was_trained_on_the_shipped_taxonomy() -> None:
    shipped = yaml.safe_load((REPO / "config" / "taxonomy.yaml").read_text(encoding="utf-8"))
    bundled = yaml.safe_load((REPO / "models" / "default" / "taxonomy.yaml").read_text(encoding="utf-8"))
    assert [t["id"] for t in bundled["topics"]] == [t["id"] for t in shipped["topics"]]


def test_seed_matching_normalises_width_and_case() -> None:
    taxonomy = taxonomy_from_dict(
        {"topics": [{"id": "labour", "name": {"zh": "劳工", "en": "Labour"}, "seeds": ["CEO", "裁员"]}]}
    )
    assert taxonomy.match("ＣＥＯ宣布大规模裁员") == {"labour": ["ceo", "裁员"]}
    assert taxonomy.match("天气不错") == {}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"topics": []}, "no topics"),
        ({"nope": 1}, "'topics' list"),
        ({"topics": [{"id": "Bad Id", "name": "x", "seeds": ["a"]}]}, r"topics\[0\]\.id"),
        ({"topics": [{"id": "a", "name": {"zh": "甲"}, "seeds": ["a"]}]}, r"topics\[0\] \(a\)\.name"),
        ({"topics": [{"id": "a", "name": "甲", "seeds": []}]}, r"\(a\)\.seeds"),
        ({"topics": [{"id": "a", "name": "甲", "seeds": ["x"], "severity": 2}]}, r"\(a\)\.severity"),
        ({"topics": [{"id": "a", "name": "甲", "seeds": ["x"], "colour": "red"}]}, "unknown key"),
        (
            {
                "topics": [
                    {"id": "a", "name": "甲", "seeds": ["x"]},
                    {"id": "a", "name": "乙", "seeds": ["y"]},
                ]
            },
            "duplicate topic id 'a'",
        ),
    ],
)
def test_validation_errors_name_the_entry(data: object, message: str) -> None:
    with pytest.raises(TaxonomyError, match=message):
        taxonomy_from_dict(data, "taxonomy.yaml")


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("topics: [\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match=str(path)):
        load_taxonomy(path)
