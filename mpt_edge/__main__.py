from mpt_edge.cli import main

main()
