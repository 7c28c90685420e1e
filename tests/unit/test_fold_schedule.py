"""When the server's background folder folds the summary deltas (api/services/summaries.py):
in batches, since a fold costs about the cells it touches, but never leaving deltas long."""

from api.services.summaries import FOLD_MAX_WAIT_SECONDS, FOLD_MIN_DELTAS, fold_due


def test_the_folder_waits_for_a_batch_or_for_its_longest_wait() -> None:
    assert not fold_due(0.0, 0)
    assert not fold_due(FOLD_MAX_WAIT_SECONDS * 100, 0)  # nothing to fold
    assert not fold_due(FOLD_MAX_WAIT_SECONDS - 0.1, FOLD_MIN_DELTAS - 1)
    assert fold_due(0.0, FOLD_MIN_DELTAS)  # a batch is there
    assert fold_due(FOLD_MAX_WAIT_SECONDS, 1)  # one delta, waited long enough
