from hacore.cli.main import main

main()
