from haplane.cli import main

raise SystemExit(main())
