from dispatch_bridge.cli import main

raise SystemExit(main())
