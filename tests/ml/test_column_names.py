"""Column lists that say when they are cut short, and guesses for a mistyped name."""

from __future__ import annotations

from millrace.ml.column_names import did_you_mean, listed, not_found

COLUMNS = [f"c{i}" for i in range(35)] + ["Diagnosis", "income"]


def test_a_long_list_says_how_many_it_left_out() -> None:
    assert listed(COLUMNS) == ", ".join(COLUMNS[:30]) + ", ... and 7 more"
    assert listed(["a", "b"]) == "a, b"
    assert listed(COLUMNS[:30]) == ", ".join(COLUMNS[:30])  # exactly the limit: all of them


def test_the_same_name_in_another_case_comes_before_a_close_spelling() -> None:
    assert did_you_mean("diagnosis", COLUMNS) == "Diagnosis"
    assert did_you_mean("INCOME", COLUMNS) == "income"
    assert did_you_mean("incme", COLUMNS) == "income"
    assert did_you_mean("zip_code", COLUMNS) is None


def test_the_message_names_the_guess_and_the_columns() -> None:
    assert not_found("target column", ["diagnosis"], ["age", "Diagnosis"]) == (
        "target column 'diagnosis' is not in the dataset; did you mean 'Diagnosis'? "
        "(columns: age, Diagnosis)"
    )
    assert not_found("target column", ["zip"], ["age"]) == (
        "target column 'zip' is not in the dataset (columns: age)"
    )
    several = not_found("sensitive column", ["SEX", "race"], ["age", "sex"])
    assert several.startswith("sensitive columns 'SEX', 'race' are not in the dataset")
    assert "did you mean 'sex' for 'SEX'?" in several
