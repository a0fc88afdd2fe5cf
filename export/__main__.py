from export.export import main

main()
