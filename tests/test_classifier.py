import pytest
import torch

from fmd_utils.classifier import ClassifierConfig, FashionClassifier


def test_classifier_shapes(generator):
    model = FashionClassifier(ClassifierConfig(channels=(8, 16, 16), feature_dim=32)).eval()
    x = torch.rand(4, 1, 28, 28, generator=generator)
    assert model(x).shape == (4, 10)
    assert model.features(x).shape == (4, 32)
    predicted = model.predict(x, batch_size=3)
    assert predicted.shape == (4,) and predicted.dtype == torch.int64
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        model(torch.rand(4, 28, 28))
