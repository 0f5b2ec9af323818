from desurv.cli import main

raise SystemExit(main())
