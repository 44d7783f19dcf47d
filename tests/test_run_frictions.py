"""Frictions from a new user's trial: a repeated --hp key, an instance type SageMaker does not have."""

import pytest

from components.settings import SettingsError, load_stack_settings, sagemaker_instance_types
from runner import cli


def test_a_repeated_hp_key_is_refused_instead_of_the_last_one_winning(capsys, tmp_path):
    code = cli.main(["--local", "--hp", "eta=0.1", "--hp", "max_depth=3", "--hp", "eta=0.3",
                     "--runs-dir", str(tmp_path)])
    assert code == 2
    assert capsys.readouterr().err.strip() == \
        "run.py: error: --hp eta is given twice (eta=0.1 and eta=0.3): give each key once"
    assert not list(tmp_path.iterdir())  # nothing started, nothing written


@pytest.mark.parametrize("key, value, expected", [
    ("trainingInstanceType", "ml.foo", "trainingInstanceType: 'ml.foo' is not a SageMaker training instance "
                                       "type (e.g. ml.m5.xlarge; the list is botocore's model of the SageMaker API)"),
    ("trainingInstanceType", "ml.m5.xlarg", "did you mean 'ml.m5.xlarge'?"),
    # A transform-only family is no training instance, and the reverse.
    ("transformInstanceType", "ml.c5n.xlarge", "is not a SageMaker transform instance type"),
])
def test_an_instance_type_sagemaker_does_not_have_is_refused_before_anything_is_created(
        tmp_path, key, value, expected):
    (tmp_path / "Pulumi.yaml").write_text((cli.PROJECT_DIR / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.t.yaml").write_text(f"config:\n  training-pipeline:{key}: {value}\n")
    with pytest.raises(SettingsError) as error:
        load_stack_settings("t", project_dir=tmp_path)
    assert expected in str(error.value)


def test_the_lists_are_sagemakers_own():
    training, transform = sagemaker_instance_types("TrainingInstanceType"), sagemaker_instance_types("TransformInstanceType")
    assert "ml.m5.xlarge" in training and "ml.m5.xlarge" in transform
    assert "ml.c5n.xlarge" in training and "ml.c5n.xlarge" not in transform
