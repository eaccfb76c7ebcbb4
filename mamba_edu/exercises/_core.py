"""Former home of the check machinery, kept so that existing imports keep working.

The machinery now lives in one module per concept: :mod:`~mamba_edu.exercises.feedback`
(failures and comparisons), :mod:`~mamba_edu.exercises.time_limits`,
:mod:`~mamba_edu.exercises.tripwires`, :mod:`~mamba_edu.exercises.student_code` (calling the
student's code), :mod:`~mamba_edu.exercises.questions` (questions, cases, context),
:mod:`~mamba_edu.exercises.results` and :mod:`~mamba_edu.exercises.scoring`.
"""
from mamba_edu.exercises.feedback import Fail, NotAttempted, as_array, expect, expect_close, fmt
from mamba_edu.exercises.questions import Case, Context, Question, quick_mode
from mamba_edu.exercises.results import FAIL, PASS, CaseResult, CheckResult
from mamba_edu.exercises.scoring import run_question
from mamba_edu.exercises.time_limits import DEFAULT_QUESTION_TIMEOUT, TimeUp, alarm, question_timeout_from_env
from mamba_edu.exercises.tripwires import TRIPWIRE_MARK, forbid

__all__ = ["DEFAULT_QUESTION_TIMEOUT", "FAIL", "PASS", "TRIPWIRE_MARK", "Case", "CaseResult", "CheckResult", "Context",
           "Fail", "NotAttempted", "Question", "TimeUp", "alarm", "as_array", "expect", "expect_close", "fmt", "forbid",
           "question_timeout_from_env", "quick_mode", "run_question"]
