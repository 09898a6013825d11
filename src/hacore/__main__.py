from hacore.cli import main

main()
