"""The scenario generator: a believable usage-based SaaS company, planted defects, and the answer key.

`company` plans the truth; `defects` decides where the systems disagree; the `write_*` modules
put both into the four emulators; `generate` runs it all and returns the answer key.
"""
