"""Lab 4: SimCLR, aprender a distinguir dos vistas de una imagen de todas las demás.

Las tareas pretexto de los labs 2 y 3 inventan una etiqueta (una rotación, la posición de un
parche, una permutación) y entrenan un clasificador para predecirla. El aprendizaje contrastivo no
necesita inventar etiquetas. Toma un lote de B imágenes y haz dos *vistas* aleatorias de cada una
(recorte, volteo, cambio de color): 2B vistas en total. Para cada vista la red debe encontrar a su
*pareja*, la otra vista de la misma imagen, entre las otras 2B - 1 vistas. Para lograrlo tiene que
conservar lo que sobrevive a los aumentos (formas, texturas, partes de objetos) e ignorar lo que
cambian (posición, escala, color), así que los aumentos deciden lo que aprende la representación.

SimCLR (Chen, Kornblith, Norouzi y Hinton, ICML 2020, "A Simple Framework for Contrastive
Learning of Visual Representations", https://arxiv.org/abs/2002.05709) hace exactamente esto:

    imagen --aumento--> vista 1 --codificador f--> h1 --cabeza g--> z1 --+
      |                                                                  +--> pérdida NT-Xent
      +----aumento--> vista 2 --codificador f--> h2 --cabeza g--> z2 --+

El codificador f es el backbone del curso; la cabeza de proyección g es un MLP pequeño que solo se
usa durante el preentrenamiento. Después g se desecha y las características h del codificador van
a la tarea final (la sonda lineal o el ajuste fino de `transfer` del lab 2).

Vas a escribir:

- `random_resized_crop`, `color_jitter`, `random_grayscale` y `augment`, que los encadena: los
  aumentos de SimCLR, cada uno para un lote completo a la vez, cada imagen con sus propios
  sorteos;
- `build_projection_head`: el MLP g;
- `nt_xent_loss`: la pérdida contrastiva de SimCLR;
- `contrastive_step`: un paso de entrenamiento que los junta.

Como en todos los labs, las imágenes son float32 en [0, 1], con los canales al final
`[B, H, W, C]`; las funciones aceptan arreglos de NumPy o tensores y devuelven tensores; la
aleatoriedad sale de una `seed` explícita, un tensor entero de forma [2] o un int de Python (ver
`course.seeds`): las mismas entradas y la misma semilla dan la misma salida. Sortea con
operaciones `tf.random.stateless_*`, un valor por imagen, nunca en un ciclo de Python sobre las
imágenes.

`course check lab4` califica tus funciones. `course experiment simclr --impl labs` preentrena el
backbone con tu `contrastive_step` y luego le hace ajuste fino y sonda lineal como en el lab 2.

Los ajustes siguen el artículo (apéndice A para los aumentos, B.9 para CIFAR-10) y la orden para
CIFAR-10 del README de google-research/simclr (lote de 512, temperatura 0.5, intensidad de la
perturbación 0.5):

| ajuste                          | aquí        | artículo                                                 |
|---------------------------------|-------------|----------------------------------------------------------|
| área del recorte (`scale`)      | 0.2 a 1     | 0.08 a 1; 8% de 32x32 es 9x9, el código de CIFAR usa 0.2 |
| relación de aspecto del recorte | 3/4 a 4/3   | 3/4 a 4/3                                                |
| volteo izquierda-derecha        | p = 0.5     | p = 0.5                                                  |
| intensidad s de la perturbación | 0.5         | 1.0 en ImageNet, 0.5 en CIFAR-10                         |
| perturbación de color aplicada  | p = 0.8     | p = 0.8                                                  |
| escala de grises                | p = 0.2     | p = 0.2                                                  |
| desenfoque gaussiano            | no          | solo en ImageNet, se omite en CIFAR-10                   |
| temperatura                     | 0.5         | 0.5 en CIFAR-10, 0.1 en ImageNet                         |
| cabeza de proyección            | Dense, ReLU, Dense a 128 | la misma                                    |
"""
import math

import keras
import tensorflow as tf

from course.seeds import as_seed, split_seed

# La receta de SimCLR para CIFAR-10 que aplica `augment` (ver la tabla de arriba).
FLIP_PROBABILITY = 0.5
JITTER_STRENGTH = 0.5
JITTER_PROBABILITY = 0.8
GRAYSCALE_PROBABILITY = 0.2

LUMA_WEIGHTS = (0.299, 0.587, 0.114)
"""Luma de ITU-R 601-2: el nivel de gris de un píxel RGB es 0.299 R + 0.587 G + 0.114 B."""

CROP_TRIES = 10
"""Cajas que `random_resized_crop` sortea por imagen antes de recurrir al respaldo, como torchvision.
"""

_EDGE = 1e-5
"""Qué tan adentro de la imagen termina `_crop_boxes` una caja que empieza dentro de la imagen."""


def _float_images(images):
    """`images` como tensor float32 (las imágenes uint8 se escalan de [0, 255] a [0, 1])."""
    images = tf.convert_to_tensor(images)
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) / 255.0
    return tf.cast(images, tf.float32)


def _per_image(values):
    """Un valor por imagen, `[B]`, con forma cambiada a `[B, 1, 1, 1]` para transmitirse (broadcast)
    sobre `[B, H, W, C]`.
    """
    return tf.reshape(values, [-1, 1, 1, 1])


def _where_per_image(condition, x, y):
    """Por imagen, `x` donde `condition` `[B]` es verdadera, si no `y` (ambas `[B, H, W, C]`).

    Lo mismo que `tf.where(_per_image(condition), x, y)`, unas cuatro veces más rápido en una CPU:
    el select de TensorFlow es más rápido cuando la condición se transmite a lo largo de un eje
    aplanado.
    """
    shape = tf.shape(x)
    x_flat, y_flat = tf.reshape(x, [shape[0], -1]), tf.reshape(y, [shape[0], -1])
    return tf.reshape(tf.where(condition[:, None], x_flat, y_flat), shape)


def _crop_boxes(top, left, height, width):
    """Cajas `[B, 4]` `(y1, x1, y2, x2)` para `tf.image.crop_and_resize`, a partir de fracciones `[B]`.

    `crop_and_resize` mide las cajas en fracciones de la imagen (0 es el primer píxel, 1 el último)
    y escribe su `extrapolation_value` (negro) dondequiera que un punto de muestreo caiga fuera de la
    imagen. Para una caja que empieza dentro de la imagen y termina exactamente en su borde, el
    redondeo pone el último punto de muestreo apenas más allá del último píxel en cerca del 8% de los
    casos, y el recorte queda con una última fila o columna negra. Esas cajas terminan en cambio
    `_EDGE` (3e-4 de píxel en imágenes de 32x32) dentro del borde. Una caja que empieza en 0 se
    calcula exactamente, así que la imagen completa sigue siendo exactamente la imagen completa.
    """
    bottom = tf.minimum(top + height, tf.where(top > 0, 1.0 - _EDGE, 1.0))
    right = tf.minimum(left + width, tf.where(left > 0, 1.0 - _EDGE, 1.0))
    return tf.stack([top, left, bottom, right], axis=1)


# Ejercicio 4.1 (9 puntos): el recorte, del que más dependen las vistas de SimCLR.
def random_resized_crop(images, seed, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3)):
    """Recorta una caja aleatoria de cada imagen y la redimensiona de vuelta al tamaño de la imagen.

    Cada imagen sortea su propia caja: un área, como fracción del área de la imagen, uniforme en
    `scale`; una relación de aspecto (ancho / alto) log-uniforme en `ratio`; y una posición aleatoria
    uniforme dentro de la imagen. `tf.image.crop_and_resize` remuestrea la caja de forma bilineal a
    `H x W`.

    Una caja demasiado ancha o demasiado alta para la imagen se vuelve a sortear, hasta `CROP_TRIES`
    veces por imagen, como en `RandomResizedCrop` de torchvision, para que el área y la relación de
    aspecto se queden dentro de sus límites. Si fallan todos los intentos (cerca de una vez en 10^8
    imágenes con los valores por omisión en imágenes cuadradas), la imagen recurre a lo mismo que en
    torchvision: a la imagen completa si su propia relación de aspecto está dentro de `ratio`, si no
    a la caja más grande de la relación permitida más cercana.

    Argumentos:
        images: imágenes float `[B, H, W, C]` en [0, 1].
        seed: una semilla entera de forma [2] o un int de Python.
        scale: área `(min, max)` de la caja como fracción del área de la imagen.
        ratio: relación de aspecto `(min, max)` de la caja, ancho / alto.

    Devuelve:
        float32 `[B, H, W, C]` en [0, 1].
    """
    images = _float_images(images)
    raise NotImplementedError("lab4.random_resized_crop: aún sin escribir; "
                              "`course hint lab4.random_resized_crop` te ayuda")


# Ejercicio 4.2 (6 puntos): distorsiones de color, cada una sorteada por imagen.
def color_jitter(images, seed, strength=0.5):
    """Cambia al azar el brillo, el contraste, la saturación y el tono de cada imagen.

    Con s = `strength`, cada imagen sortea sus propios factores f de brillo, contraste y saturación,
    uniformes en [max(0, 1 - 0.8 s), 1 + 0.8 s], y su propio desplazamiento de tono d uniforme en
    [-0.2 s, 0.2 s] (en vueltas de la rueda de color), como en el apéndice A del artículo. Aplica las
    cuatro operaciones en su propio orden aleatorio y limita a [0, 1] después de cada una, como lo
    hace `color_jitter_rand` de google-research/simclr:

    - brillo: `x * f`, el brillo multiplicativo de SimCLR v2 (`impl='simclrv2'` en
      google-research/simclr; v1 sumaba en cambio un delta aleatorio) y de torchvision;
    - contraste: `mean + f * (x - mean)` con la media por canal de la imagen, como
      `tf.image.adjust_contrast`;
    - saturación: `gray + f * (x - gray)`, una mezcla con la luma de la imagen, como torchvision y
      PIL (`tf.image.adjust_saturation` escala en cambio la S de HSV);
    - tono: `h -> (h + d) mod 1` en HSV, como `tf.image.adjust_hue`.

    `strength=0` es exactamente la identidad: cada factor es 1 y cada desplazamiento de tono es 0.

    Argumentos:
        images: imágenes RGB float `[B, H, W, 3]` en [0, 1].
        seed: una semilla entera de forma [2] o un int de Python.
        strength: la s de arriba; 1.0 es el ajuste del artículo para ImageNet, 0.5 para CIFAR-10.

    Devuelve:
        float32 `[B, H, W, 3]` en [0, 1].
    """
    images = _float_images(images)
    raise NotImplementedError("lab4.color_jitter: aún sin escribir; "
                              "`course hint lab4.color_jitter` te ayuda")


# Ejercicio 4.3 (6 puntos): un aumento que se aplica con cierta probabilidad.
def random_grayscale(images, seed, p=0.2):
    """Convierte cada imagen, con probabilidad `p`, en su luma repetida en los tres canales.

    La luma es la de ITU-R 601-2: 0.299 R + 0.587 G + 0.114 B (`LUMA_WEIGHTS`). Cada imagen lanza su
    propia moneda.

    Argumentos:
        images: imágenes RGB float `[B, H, W, 3]` en [0, 1].
        seed: una semilla entera de forma [2] o un int de Python.
        p: la probabilidad de que una imagen se vuelva gris.

    Devuelve:
        float32 `[B, H, W, 3]` en [0, 1].
    """
    images = _float_images(images)
    raise NotImplementedError("lab4.random_grayscale: aún sin escribir; "
                              "`course hint lab4.random_grayscale` te ayuda")


# Ejercicio 4.4 (7 puntos): componer la receta de SimCLR para CIFAR-10. Se basa en
# `random_resized_crop`, `color_jitter`, `random_grayscale`.
def augment(images, seed):
    """El aumento de SimCLR para CIFAR-10: una vista aleatoria de cada imagen.

    En orden, cada imagen sortea los suyos: un recorte aleatorio redimensionado (los valores por
    omisión de `random_resized_crop`), un volteo izquierda-derecha con probabilidad
    `FLIP_PROBABILITY` (0.5), una perturbación de color de intensidad `JITTER_STRENGTH` (0.5) con
    probabilidad `JITTER_PROBABILITY` (0.8), y escala de grises con probabilidad
    `GRAYSCALE_PROBABILITY` (0.2). Sin desenfoque gaussiano: el artículo lo omite en imágenes de
    32x32. Dos llamadas con semillas distintas dan las dos vistas de un lote.

    Argumentos:
        images: imágenes RGB float `[B, H, W, 3]` en [0, 1].
        seed: una semilla entera de forma [2] o un int de Python.

    Devuelve:
        float32 `[B, H, W, 3]` en [0, 1].
    """
    images = _float_images(images)
    raise NotImplementedError("lab4.augment: aún sin escribir; "
                              "`course hint lab4.augment` te ayuda")


# Ejercicio 4.5 (4 puntos): la cabeza de proyección sobre la que se calcula la pérdida.
def build_projection_head(input_dim, hidden_dim=512, output_dim=128):
    """La cabeza de proyección g de SimCLR: `Dense(hidden_dim) -> ReLU -> Dense(output_dim)`.

    Un modelo funcional de las características del codificador `[B, input_dim]` a los embeddings
    `[B, output_dim]` que compara la pérdida. La sección 4.2 del artículo muestra que una cabeza no
    lineal da mejores características del codificador que una cabeza lineal o que ninguna: la cabeza
    puede descartar lo que a la pérdida no le sirve (como el color), así que el codificador no tiene
    que hacerlo.

    Argumentos:
        input_dim: el número de características del codificador (512 para el backbone del curso).
        hidden_dim: el ancho de la capa oculta.
        output_dim: el tamaño de los embeddings (128 en el artículo).

    Devuelve:
        un `keras.Model` de `(input_dim,)` a `(output_dim,)`.
    """
    raise NotImplementedError("lab4.build_projection_head: aún sin escribir; "
                              "`course hint lab4.build_projection_head` te ayuda")


def _l2_normalize(z):
    """Las filas de `z` `[N, D]` escaladas a longitud 1, como float32; una fila toda en ceros se queda
    en cero.

    `tf.math.l2_normalize` por sí sola eleva al cuadrado las entradas: filas de tamaño 1e20 se
    desbordan a inf, y filas de tamaño 1e-8 caen bajo su épsilon y salen mucho más cortas que 1.
    Dividir antes cada fila entre su entrada más grande mantiene la suma de cuadrados entre 1 y D.
    Esa división no cambia la dirección, así que ningún gradiente fluye por ella.
    """
    z = tf.cast(z, tf.float32)
    largest = tf.stop_gradient(tf.reduce_max(tf.abs(z), axis=1, keepdims=True))
    z = z / tf.where(largest > 0.0, largest, 1.0)
    return tf.math.l2_normalize(z, axis=1)


# Ejercicio 4.6 (10 puntos): la pérdida contrastiva NT-Xent, numéricamente estable.
def nt_xent_loss(z1, z2, temperature=0.5):
    """La pérdida NT-Xent (entropía cruzada normalizada y escalada por temperatura) de SimCLR.

    `z1[i]` y `z2[i]` son los embeddings de las dos vistas de la imagen i. Juntos son 2B embeddings,
    y cada par se califica con su similitud coseno dividida entre la temperatura T. Cada uno de los
    2B embeddings, el ancla a, clasifica a los otros 2B - 1 (excluyéndose a sí mismo), y la respuesta
    correcta es su pareja (`z2[i]` para `z1[i]`, `z1[i]` para `z2[i]`):

        loss(a) = -log( exp(sim(a, partner) / T) / sum over k != a of exp(sim(a, k) / T) )

    La pérdida es la media sobre las 2B anclas (la ecuación 1 y el algoritmo 1 del artículo). Una
    temperatura más baja pesa más los negativos más difíciles; el artículo usa 0.5 en CIFAR-10 y 0.1
    en ImageNet.

    Argumentos:
        z1, z2: embeddings `[B, D]`, filas de cualquier longitud distinta de cero.
        temperature: la T de arriba, un float positivo.

    Devuelve:
        un escalar float32, finito para cualquier embedding distinto de cero.
    """
    raise NotImplementedError("lab4.nt_xent_loss: aún sin escribir; "
                              "`course hint lab4.nt_xent_loss` te ayuda")


# Ejercicio 4.7 (7 puntos): un paso de entrenamiento propio con tf.GradientTape. Se basa en
# `augment`, `nt_xent_loss`.
def contrastive_step(encoder, head, optimizer, images, seed, temperature=0.5):
    """Un paso de entrenamiento de SimCLR sobre un lote de imágenes.

    Hace dos vistas de cada imagen (`augment` con dos semillas obtenidas al dividir `seed`), las
    codifica y las proyecta en modo de entrenamiento, calcula `nt_xent_loss` y aplica sus gradientes
    a las variables entrenables de `encoder` y de `head` con `optimizer`. Las dos vistas pasan por el
    codificador como un solo lote de 2B, así que BatchNormalization las normaliza con estadísticas
    compartidas.

    Corre en modo eager y dentro de una `tf.function`, que es más rápida en un ciclo de
    entrenamiento: `step = tf.function(contrastive_step)`. Pasa la semilla como tensor (cada int de
    Python nuevo vuelve a trazar la función). Keras crea las variables del optimizador en su primera
    actualización, y una `tf.function` solo puede crear variables en su primer trazado: para usar un
    mismo `step` con varios modelos, llama primero a
    `optimizer.build(encoder.trainable_variables + head.trainable_variables)`.

    Argumentos:
        encoder: un modelo de Keras de imágenes `[B, H, W, 3]` a características `[B, F]`.
        head: un modelo de Keras de `[B, F]` a embeddings `[B, D]` (`build_projection_head(F)`).
        optimizer: un optimizador de Keras.
        images: imágenes float `[B, H, W, 3]` en [0, 1].
        seed: una semilla entera de forma [2] o un int de Python.
        temperature: la temperatura de `nt_xent_loss`.

    Devuelve:
        la pérdida de este lote, un escalar float32, calculada antes de la actualización.
    """
    raise NotImplementedError("lab4.contrastive_step: aún sin escribir; "
                              "`course hint lab4.contrastive_step` te ayuda")
