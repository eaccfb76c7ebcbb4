"""Theory you can compute: exact beliefs and Bayes-optimal planning on small problems
(:mod:`~mamba_edu.theory.bamdp` imports it all, one module per concept; problems in
:mod:`~mamba_edu.theory.problems`; ``python -m mamba_edu.theory`` prints their values), the KDE PAC
bounds for decomposable task distributions (:mod:`~mamba_edu.theory.pac`) and the numbers the
notes quote about them (:mod:`~mamba_edu.theory.claims`). Notes with the derivations:
``theory/`` at the repository root.
"""
