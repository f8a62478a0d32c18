from xncost.cli import main

main()
