from millrace.cli.main import main

main()
