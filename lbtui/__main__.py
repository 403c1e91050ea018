from lbtui.cli import main

raise SystemExit(main())
