import sys

from huiyuan.cli import main

sys.exit(main())
