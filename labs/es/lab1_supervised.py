"""Lab 1: una línea base supervisada.

El aprendizaje autosupervisado promete aprovechar mejor las etiquetas, así que antes de cualquier
tarea pretexto necesitamos el número que hay que superar: una CNN pequeña entrenada desde cero con
las pocas etiquetas que tenemos. Como en el taller, suponemos que solo 5,000 imágenes de CIFAR-10
están etiquetadas (500 por clase). La red del taller alcanza con ellas 52.48% de exactitud en
prueba, y 68.50% con las 50,000 etiquetas; los labs que siguen intentan cerrar esa brecha solo con
las 50,000 imágenes de entrenamiento, sin sus etiquetas.

Vas a escribir las cuatro piezas de un pipeline supervisado:

- `standardize`: lleva las imágenes a [0, 1] y estandariza cada canal de color;
- `make_pipeline`: un pipeline de entrada de `tf.data` que baraja y voltea las imágenes para
  entrenar;
- `build_backbone`: la CNN pequeña del taller, el backbone (columna vertebral) que extrae las
  características y que todos los labs reusan;
- `build_classifier`: una cabeza de clasificación lineal sobre el backbone.

`course check lab1` califica tus funciones, y `course experiment supervised --impl labs` entrena
con ellas la línea base.
"""
import keras
import tensorflow as tf
from keras import layers

from course.data import CIFAR10_MEAN, CIFAR10_STD
from course.seeds import split_seed


# Ejercicio 1.1 (4 puntos): escalar y normalizar por canal imágenes uint8 y float.
def standardize(images):
    """Lleva las imágenes a [0, 1] y luego estandariza cada canal con las estadísticas de CIFAR-10.

    Argumentos:
        images: imágenes uint8 en [0, 255] o imágenes float en [0, 1], `[B, H, W, 3]` o `[H, W, 3]`.

    Devuelve:
        imágenes float32 de la misma forma, `(x - CIFAR10_MEAN) / CIFAR10_STD` por canal.
    """
    raise NotImplementedError("lab1.standardize: aún sin escribir; "
                              "`course hint lab1.standardize` te ayuda")


# Ejercicio 1.2 (7 puntos): pipelines de entrada con tf.data: barajar, aumentar cada imagen, formar
# lotes. Se basa en `standardize`.
def make_pipeline(images, labels, batch_size=128, training=False, seed=None):
    """Un pipeline de `tf.data` con lotes de imágenes estandarizadas y sus etiquetas.

    Argumentos:
        images: uint8 `[N, 32, 32, 3]` (o imágenes float en [0, 1]).
        labels: enteros `[N]`.
        batch_size: imágenes por lote; el último lote puede ser más chico.
        training: si es True, vuelve a barajar las imágenes en cada época y voltea cada una de
            izquierda a derecha con probabilidad 1/2; si es False, conserva el orden original y no
            aumenta los datos.
        seed: hace reproducibles los barajados y los volteos (None: aleatoriedad nueva).

    Devuelve:
        Un `tf.data.Dataset` de lotes `(float32 [b, 32, 32, 3], int [b])`.
    """
    raise NotImplementedError("lab1.make_pipeline: aún sin escribir; "
                              "`course hint lab1.make_pipeline` te ayuda")


# Ejercicio 1.3 (5 puntos): la CNN del taller como modelo funcional de Keras.
def build_backbone(input_shape=(32, 32, 3)):
    """La CNN del taller: tres bloques de Conv2D -> ReLU -> MaxPool2D -> BatchNormalization.

    Los bloques tienen 8, 16 y 32 filtros de 3x3 (padding "same"); cada max-pool reduce la imagen a
    la mitad, así que una entrada de 32x32 termina en 4x4x32, aplanada a 512 características. 6,256
    parámetros.

    Argumentos:
        input_shape: `(H, W, C)` de una imagen.

    Devuelve:
        Un `keras.Model` funcional de imágenes `[B, H, W, C]` a características float32 `[B, 512]`.
    """
    raise NotImplementedError("lab1.build_backbone: aún sin escribir; "
                              "`course hint lab1.build_backbone` te ayuda")


# Ejercicio 1.4 (4 puntos): reusar las capas y los pesos de un modelo bajo una cabeza nueva.
def build_classifier(backbone, num_classes):
    """Un clasificador lineal sobre `backbone`, que comparte sus capas y sus pesos.

    Argumentos:
        backbone: un modelo funcional de imágenes a vectores de características, p. ej.
            `build_backbone()`.
        num_classes: el número de clases.

    Devuelve:
        Un `keras.Model` funcional de imágenes `[B, H, W, C]` a logits float32 `[B, num_classes]`
        (sin softmax: la pérdida usa `from_logits=True`).
    """
    raise NotImplementedError("lab1.build_classifier: aún sin escribir; "
                              "`course hint lab1.build_classifier` te ayuda")
