from zenmail.cli import main

main()
