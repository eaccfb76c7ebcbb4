from mamba_edu.cli import main

raise SystemExit(main())
