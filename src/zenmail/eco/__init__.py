"""Eco-design (issue 14, docs/eco.md): what the mail store holds and how much of it still
lives (analyze), compressing it (compress), archiving and expunging by tenant policy
(policy), shrinking the images of archived mail (images), and what it all costs in CO2
(co2). An engine: it reads the directory through its use cases and the mail store as files
or through `doveadm`; the CLI (cli/eco.py) and the API (web/routes/eco.py) only translate.
"""
