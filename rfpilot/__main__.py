from rfpilot.cli import main

main()
