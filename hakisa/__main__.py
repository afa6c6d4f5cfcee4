from hakisa.cli import main

raise SystemExit(main())
