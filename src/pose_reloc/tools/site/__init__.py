"""`pose-reloc map-site`: a robot's mapping bag to a site folder the nodes load (the feature map,
the posed frames, site.yaml for robot.launch.py, report.md). The mapping itself is
`vo_fusion.mapping`; this package reads the bag and writes the site."""
