"""Lab 2: aprender de las rotaciones.

Gidaris, Singh y Komodakis (ICLR 2018, "Unsupervised Representation Learning by Predicting Image
Rotations") entrenan una CNN con imágenes sin etiquetar mediante una tarea cuyas etiquetas salen
gratis: girar cada imagen 0, 90, 180 o 270 grados y preguntarle a la red cuál de las cuatro
rotaciones se aplicó: ¿cuál es la rotación de la imagen? No hay manera de saber que un gato está
de cabeza sin saber dónde están su cabeza, sus orejas y sus patas, y hacia dónde es arriba para un
gato, así que resolver la tarea obliga a la red a reconocer objetos. Las características que
aprende se transfieren luego a la clasificación con pocas etiquetas.

El resultado del taller, que este lab reproduce en CIFAR-10 con el backbone del lab 1:

| entrenamiento                       | imágenes etiquetadas | exactitud % |
|-------------------------------------|----------------------|-------------|
| supervisado                         | 5000                 | 52.48       |
| preentrenamiento de rotación + sup. | 5000                 | 59.39       |

El preentrenamiento ve las 50,000 imágenes de entrenamiento sin sus etiquetas; el ajuste fino ve
las mismas 5,000 imágenes etiquetadas que la línea base supervisada.

Vas a escribir:

- `rotate`, `rotation_batch` y `random_rotation`: las entradas y las etiquetas de la tarea
  pretexto;
- `make_rotation_dataset`: el pipeline de entrada del preentrenamiento;
- `build_rotation_model`: el backbone con una cabeza que predice la rotación;
- `transfer`: un clasificador sobre el backbone preentrenado, con ajuste fino o como sonda lineal
  congelada.

`course check lab2` califica tus funciones. `course experiment rotation --impl labs` preentrena un
backbone con `build_rotation_model` sobre lotes hechos por tu `rotation_batch` (las cuatro
rotaciones de una imagen en el mismo lote, como hacen Gidaris et al.; `--rotation-batches shuffled`
usa en cambio tu `make_rotation_dataset`), luego entrena clasificadores `transfer` con las 5,000
imágenes etiquetadas y los compara con la línea base supervisada.
"""
import keras
import tensorflow as tf
from keras import layers

from course.data import CIFAR10_MEAN, CIFAR10_STD
from course.seeds import as_seed, split_seed

NUM_ROTATIONS = 4
"""Rotaciones de 0, 90, 180 y 270 grados, etiquetadas k = 0, 1, 2, 3."""


# Ejercicio 2.1 (6 puntos): rotar lotes de imágenes por cuartos de vuelta, una k por imagen.
def rotate(images, k):
    """Gira imágenes cuadradas `k * 90` grados en sentido antihorario, como `np.rot90(image, k)`.

    Argumentos:
        images: `[B, H, W, C]` con H == W, cualquier dtype (o una imagen `[H, W, C]` con una k
            escalar).
        k: un int de Python, un tensor entero escalar o un tensor entero `[B]` con una k por imagen.
            Cualquier entero funciona: k = -1 es lo mismo que k = 3.

    Devuelve:
        Las imágenes giradas, con la misma forma y el mismo dtype.
    """
    raise NotImplementedError("lab2.rotate: aún sin escribir; `course hint lab2.rotate` te ayuda")


# Ejercicio 2.2 (4 puntos): las etiquetas de una tarea pretexto, hechas a partir de los datos
# mismos. Se basa en `rotate`.
def rotation_batch(images):
    """Cada imagen en sus cuatro rotaciones, con la rotación como etiqueta.

    Argumentos:
        images: imágenes cuadradas `[B, H, W, C]`.

    Devuelve:
        `(x, y)`: las imágenes giradas `[4B, H, W, C]` (mismo dtype) y etiquetas int32 `[4B]`, donde
        `x[i]` es una imagen girada `y[i] * 90` grados en sentido antihorario.
    """
    raise NotImplementedError("lab2.rotation_batch: aún sin escribir; "
                              "`course hint lab2.rotation_batch` te ayuda")


# Ejercicio 2.3 (5 puntos): aleatoriedad sin estado, con semilla. Se basa en `rotate`.
def random_rotation(image, seed):
    """Gira una imagen por un múltiplo aleatorio de 90 grados.

    Argumentos:
        image: una imagen cuadrada `[H, W, C]`.
        seed: un int de Python o un tensor entero de forma [2].

    Devuelve:
        `(rotated, k)`: la imagen girada `k * 90` grados en sentido antihorario, y el escalar int32
        k, uniforme en {0, 1, 2, 3}.
    """
    raise NotImplementedError("lab2.random_rotation: aún sin escribir; "
                              "`course hint lab2.random_rotation` te ayuda")


# Ejercicio 2.4 (6 puntos): un pipeline de preentrenamiento que ve cada rotación una vez por época.
# Se basa en `rotate`.
def make_rotation_dataset(images, batch_size=128, seed=None):
    """El pipeline de preentrenamiento: lotes barajados de imágenes giradas y estandarizadas, con su k.

    Cada época tiene cada una de las cuatro rotaciones de cada imagen exactamente una vez (4N
    ejemplos), en un orden aleatorio nuevo.

    Argumentos:
        images: imágenes cuadradas uint8 `[N, H, W, 3]` (o imágenes float en [0, 1]).
        batch_size: ejemplos por lote; el último lote puede ser más chico.
        seed: hace reproducibles los barajados (None: aleatoriedad nueva).

    Devuelve:
        Un `tf.data.Dataset` de lotes `(float32 [b, H, W, 3], int32 [b])`: las imágenes giradas,
        estandarizadas como con `standardize` del lab 1, y sus rotaciones k.
    """
    raise NotImplementedError("lab2.make_rotation_dataset: aún sin escribir; "
                              "`course hint lab2.make_rotation_dataset` te ayuda")


# Ejercicio 2.5 (4 puntos): una cabeza pretexto sobre un backbone compartido.
def build_rotation_model(backbone):
    """El backbone con una cabeza de rotación: de imágenes a 4 logits de rotación.

    La cabeza es una sola capa Dense, un clasificador lineal sobre las características del backbone:
    todo lo que haga falta para reconocer la rotación lo tiene que aprender entonces el backbone, que
    es la parte que conserva `transfer`. (Gidaris et al. encuentran que cabezas más profundas pueden
    ayudar a redes grandes; para nuestro backbone pequeño la cabeza lineal es la más simple que
    funciona.)

    Argumentos:
        backbone: un modelo funcional de imágenes a vectores de características; sus pesos se
            comparten, así que entrenar este modelo entrena el backbone.

    Devuelve:
        Un `keras.Model` funcional de imágenes `[B, H, W, C]` a logits float32 `[B, 4]`.
    """
    raise NotImplementedError("lab2.build_rotation_model: aún sin escribir; "
                              "`course hint lab2.build_rotation_model` te ayuda")


# Ejercicio 2.6 (9 puntos): ajuste fino contra sonda lineal, y BatchNormalization congelada.
def transfer(backbone, num_classes, freeze_backbone=False):
    """Un clasificador sobre un backbone preentrenado: los mismos pesos del backbone, una cabeza Dense
    nueva.

    Argumentos:
        backbone: el modelo funcional preentrenado de imágenes a vectores de características.
        num_classes: el número de clases.
        freeze_backbone: False hace ajuste fino de toda la red. True entrena solo la cabeza (una
            sonda lineal, que mide las características preentrenadas mismas): el backbone deja de ser
            entrenable y sus capas BatchNormalization usan sus estadísticas móviles.

    Devuelve:
        Un `keras.Model` funcional de imágenes `[B, H, W, C]` a logits float32 `[B, num_classes]`.
    """
    raise NotImplementedError("lab2.transfer: aún sin escribir; "
                              "`course hint lab2.transfer` te ayuda")
