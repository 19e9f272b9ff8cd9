from mpt_edge.entry import main

main()
