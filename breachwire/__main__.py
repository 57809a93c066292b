from breachwire.cli import main

raise SystemExit(main())
