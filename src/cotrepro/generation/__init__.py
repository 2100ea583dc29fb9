"""The generation stage of the workflow: a job serves every (task, method) unit of one model, loaded
once, through the engine; each unit's rows are journaled, resumed and reused by key, and its
metadata written beside them (:mod:`cotrepro.generation.meta`), for every source of rows."""
