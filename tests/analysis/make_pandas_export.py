#!/usr/bin/python3
"""Writes tests/analysis/pandas_export.csv exactly as the original package's inference does
(pipeline_02_inference.py: a metadata DataFrame and a float32 embeddings DataFrame, concatenated,
`to_csv(sep=";")`), for test_embeddings to read and to compare its own writer against byte for
byte. Needs Debian's python3-pandas; the CSV is committed, so the tests do not."""
import os

import numpy as np
import pandas as pd

emb = np.array(
    [[0.1, -2.5, 1e-30, 123456.78],
     [3.0, 0.33333334, -0.0, 7.25e-5],
     [-1.5, 2.0, 65504.0, 1.0 / 3.0]],
    dtype=np.float32,
)
headers = ["cluster", "object", "right ascension", "declination", "rest freq", "filepath"]
labels = [
    (2, "NGC 1333", "52.2971", "31.3117", "230538000000.0", "data/ngc1333.fits"),
    (0, 'semi;colon "quoted"', "N/A", "N/A", "N/A", "dir/x.fits"),
    (1, "N/A", "N/A", "N/A", "N/A", "y.fits"),
]
df_embeddings = pd.DataFrame(columns=[f"emb_dim_{i}" for i in range(emb.shape[1])], data=emb)
df_metadata = pd.DataFrame(columns=headers, data=labels)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pandas_export.csv")
pd.concat([df_metadata, df_embeddings], axis=1).to_csv(out, sep=";")
