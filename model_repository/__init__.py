"""The Triton adapters (`<family>/<model>/1/model.py`) that `tritontts repository` copies into
the model repository it renders. Installed as package data of `tritontts.model_repository`
(pyproject.toml maps this folder), found through importlib.resources; nothing imports them."""
